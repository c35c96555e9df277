"""`taskheap demo`: a live simulation on embedded SQLite in a temp dir, no service needed."""
