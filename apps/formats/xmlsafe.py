"""Parse untrusted XML with defusedxml: no DTDs, no entities, no external references."""

from __future__ import annotations

from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from .base import ParseError


def parse_xml(body: bytes, label: str) -> Element:
    """The root element, or ParseError for bad XML, any DTD, entity or external reference."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ParseError(f"{label}: expected bytes, got {type(body).__name__}")
    try:
        # A DTD has no business in a report; refusing it rules out entity-expansion
        # bombs and external-entity reads in one go.
        return SafeET.fromstring(bytes(body), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ParseError(
            f"{label}: the XML declares a DTD or entities, which are not accepted ({type(exc).__name__})"
        ) from None
    except XMLSyntaxError as exc:
        raise ParseError(f"{label}: not well-formed XML ({exc})") from None
    except RecursionError:
        raise ParseError(f"{label}: the XML is nested too deeply to read") from None
    except (ValueError, UnicodeError) as exc:
        raise ParseError(f"{label}: not readable XML ({exc})"[:1000]) from None


def local_name(tag) -> str:
    """'{namespace}name' -> 'name'; comments and processing instructions -> ''."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace(tag) -> str:
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    return ""
