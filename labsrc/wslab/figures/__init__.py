"""Figures the lessons draw at run time, one small module per picture.

Each function returns a matplotlib ``Figure`` built without pyplot, so drawing one leaves no
global state behind. A notebook shows it as a cell's last value (after ``%matplotlib inline``,
which tells Jupyter how to display a figure); a test or a script saves it with
``fig.savefig(...)``.
"""
