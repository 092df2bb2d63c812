"""What the viewer tests' diagnose run holds (tests/viewer/conftest.py makes it)."""

#: generated frames diagnosed (then one unreadable file: the last case, an error row)
N_FRAMES = 8
#: the frame deleted after the run (its case's page must say the image is missing)
MISSING = "gastric_00006.png"
