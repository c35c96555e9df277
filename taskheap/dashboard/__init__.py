"""Live views built on the admin API: the web dashboard (`create_app`) and `taskheap top`."""
