"""One file per algorithm, holding only what its paper defines: the step and its loop."""
