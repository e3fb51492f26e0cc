"""The command line's shared parts (``arguments``): the parser with Python
tools' conventions, the flag types, and the one reporter of errors."""
