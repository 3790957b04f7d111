from gantl.cli import app

app(prog_name="gantl")
