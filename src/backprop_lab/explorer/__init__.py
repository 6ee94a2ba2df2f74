"""An interactive explorer in the browser: watch backpropagation compute every number.

``backprop-lab explore`` serves a page that draws the credit-risk network, trains it
epoch by epoch, traces one borrower through a forward and a backward pass, and runs the
gradient check, with every number computed by the Python engine (see ``server.py``).

Modules: ``params`` (checks on every request value), ``trace`` (one borrower through
the engine's layers), ``sessions`` (data, network and curves per browser tab),
``health`` (warnings and the Bayes band), ``bugs`` (bugs planted in one session's own
layers), ``checks`` (the one-weight gradient check), ``deep`` (more than one hidden layer), ``server`` (Flask app and loopback
server); the page's scripts are ES modules under ``static/js``.
"""
