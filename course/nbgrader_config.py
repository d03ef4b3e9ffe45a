"""nbgrader configuration of the corrquant course (nbgrader 0.9.6; see README.md in this folder).

Run every nbgrader command from this folder (the course root). The settings
below are nbgrader's defaults written out where the assignments depend on them,
so that a change of default in a later nbgrader shows up here.
"""

c = get_config()  # noqa: F821 (nbgrader supplies get_config when it reads this file)

c.CourseDirectory.course_id = "corrquant"
# source/<assignment>/<assignment>.ipynb are built from notebooks/src/assignments/*.py by
# tools/build_notebooks.py; edit those sources, never the notebooks here.
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# Per-cell time limit while validating and autograding (nbgrader's default). Every cell of
# the shipped assignments, set-up and hidden tests included, runs in well under 30 s on two
# CPU cores (tests/test_course.py grades with this file). A cell that runs out of time gets
# an error output and its points are lost; raise this value (and say so to the students)
# if your grading machine is slower.
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True

# A test cell that writes to stderr scores 0 in nbgrader (utils.determine_grade), like one
# that raises. The assignments' test cells write nothing to stderr (progress bars are off,
# warnings silenced in the locked set-up cells), so the filter stays off: a student's code
# that prints to stderr inside a test cell (e.g. a tqdm bar) loses those points, and the
# student version says so.
c.IgnorePattern.enabled = False

# Students' solution cells are replaced by these stubs in the release (nbgrader's defaults).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograde restores every locked and test cell from the source version by grade_id
# (OverwriteCells), so edits to test or set-up cells do not count.
c.Autograde.create_student = True
