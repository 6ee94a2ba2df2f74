"""Responsible credit models: attributions by backprop to the inputs, per-applicant
reasons, the fairness audit (with the Regulation B age check) and their figures."""
