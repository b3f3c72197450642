"""What several modules share: text folding, record paths, precision/recall/F1 and the MUC-4 roles."""
