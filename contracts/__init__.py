"""The messages the layers share: every workflow's and activity's typed input and output.

Any layer may import this package (the API and the CLI to talk to workflows, workflows to call
activities, activities to answer them); it imports nothing of the project but `domain/`.
"""
