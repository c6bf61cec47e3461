import pathlib
import re
import unittest


class VersionTest(unittest.TestCase):
    def test_version_is_semver(self):
        version = pathlib.Path(__file__).with_name("VERSION").read_text().strip()
        self.assertRegex(version, re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"))


if __name__ == "__main__":
    unittest.main()
