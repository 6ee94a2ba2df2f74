"""Small helpers every part uses: input validation, atomic writes, the figure palette."""
