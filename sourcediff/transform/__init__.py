"""The source transformation: source -> gast -> normalised form -> analyses -> generated code.

`pipeline.py` lists the passes in order; each pass module states what it guarantees.
"""
