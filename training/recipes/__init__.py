"""How each family trains, exports and publishes: one recipe per training method, found by the
key its spec names (`Family.recipe`) in RECIPES (table.py).

The torch side of the families: only the training worker (workers/training.py) and the CLI
(`python -m training`) import the table; the API reads the torch-free specs in
training/families/. A recipe is `recipe(session: TrainingSession) -> TrainingOutcome`
(session.py); it raises TrainingFailed (outcome.py) for what the client should be told. This
package's own import loads nothing, so outcome.py and session.py stay free of torch.
"""
