"""A minimal Django shop with erralert: see settings.py (the one line) and views.py."""
