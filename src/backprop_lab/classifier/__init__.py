"""The model a lender trains on a CSV: BackpropClassifier, calibration, credit metrics,
the .blab model file and TabularModel (preprocessing + network + calibrator)."""
