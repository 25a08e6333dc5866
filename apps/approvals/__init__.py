"""One approval engine for every decision that turns a person's judgement into a green.

Exceptions (risk acceptances) and release sign-off are its clients; each keeps its own
tables and states, and uses from here: slots and who may fill them (slots.py), the
assignment of approvers to slots that keeps a chain completable (matching.py), step-up
re-authentication (reauth.py), digest binding (digest.py), and refused attempts recorded as
security events (refusals.py), voiding decisions on a material change (voiding.py). This
package imports neither client.
"""
