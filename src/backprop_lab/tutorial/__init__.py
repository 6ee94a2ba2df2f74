"""The tutorial's experiments, their figures, the report's sections and its assembly."""
