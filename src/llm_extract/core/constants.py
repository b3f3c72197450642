"""Names more than one part of the tool must spell alike."""

# The MUC-4 template roles, in the benchmark's order and spelling: the GTT scorer, the muc4_v1 schema and the
# muc4 suite's scripts all read templates by these keys.
MUC_ROLES = ("PerpInd", "PerpOrg", "Target", "Victim", "Weapon")
