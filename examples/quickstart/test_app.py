import re
import unittest

import app


class AppTest(unittest.TestCase):
    def test_version_is_semver(self):
        self.assertRegex(app.VERSION, re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"))

    def test_greeting_never_shows_the_secret(self):
        text = app.greeting("dev", "not-for-your-eyes")
        self.assertIn("in dev", text)
        self.assertNotIn("not-for-your-eyes", text)


if __name__ == "__main__":
    unittest.main()
