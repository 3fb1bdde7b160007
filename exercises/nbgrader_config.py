"""nbgrader configuration of the exercises (run nbgrader commands from this folder).

Course layout: source/<assignment>/ holds the teacher's notebooks with solutions and hidden tests;
`nbgrader generate_assignment <assignment>` writes the student version to release/<assignment>/.
Submissions go to submitted/<student>/<assignment>/ and are graded with `nbgrader autograde`.
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it reads this file)

c.CourseDirectory.course_id = "batchnorm-hands-on"
c.CourseDirectory.root = "."
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
