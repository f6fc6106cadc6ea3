"""Layer tars: applying them safely, reading overlay changes, writing them back out."""
