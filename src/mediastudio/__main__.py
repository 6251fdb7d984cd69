from mediastudio.cli.main import app

app(prog_name="mediastudio")
