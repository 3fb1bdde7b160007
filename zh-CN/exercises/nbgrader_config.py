"""nbgrader configuration of the Chinese exercises (run nbgrader commands from this folder).

source/<assignment>/ holds the Chinese teacher's notebooks, generated from ../../exercises/source by
``python tools/zh_edition.py sync`` (markdown translated; code the English code, each feedback check
called with ``language="zh"``). ``nbgrader generate_assignment <assignment> --force`` writes the
Chinese student version to release/<assignment>/. The course's settings are the English course's.
"""

load_subconfig("../../exercises/nbgrader_config.py")  # noqa: F821 (provided by traitlets when it reads this file)
