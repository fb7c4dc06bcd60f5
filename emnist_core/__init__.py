"""What training and the demo share: labels, model, preprocessing, checkpoint format, prediction.

Nothing happens at import: every module only defines.
"""
