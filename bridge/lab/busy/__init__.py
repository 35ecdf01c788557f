"""The busy hour in miniature (bench/busyhour.py, tests/test_lab_busyhour.py):
citizens arriving at both lab PBXs, bench operators answering and handing
calls over, and every citizen accounted for at the end."""
