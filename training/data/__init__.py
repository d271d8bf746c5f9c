"""Training data: the built-in datasets that ship inside packages, uploaded archives (checked
before they are accepted), their layouts, the dataset store, and the arrays trainers take."""
