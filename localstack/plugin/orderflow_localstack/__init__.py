"""orderflow's LocalStack extensions: a host-process Lambda executor and a Java-free DynamoDB."""

__version__ = "0.1.0"
