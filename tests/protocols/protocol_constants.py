"""What the protocol tests and their conftest share (imported by name: conftest modules of several
test folders would shadow each other)."""

KEY = "test-key-123"
# Distinct from the transcript fallback, so a test can tell the template was used.
TEMPLATE = "{% for m in messages %}<<{{ m.role }}>> {{ m.content }}\n{% endfor %}<<assistant>>"
