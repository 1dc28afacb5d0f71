"""A real working repository in a temp dir, standing in for a remote the sync fetches from."""

import os
import subprocess

BASE = 1_700_000_000  # 2023-11-14T22:13:20Z


class Work:
    """A non-bare working repository: commit files, tag, rewrite history — all with the real git CLI."""

    def __init__(self, path, branch="main"):
        self.path = path
        self.n = 0
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", branch)

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args, date=None):
        env = {**os.environ}
        date = BASE + self.n * 60 if date is None else date
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{date} +0000"
        result = subprocess.run(
            ["git", "-c", "user.name=Dana Dev", "-c", "user.email=dana@example.org", *args],
            cwd=self.path,
            env=env,
            capture_output=True,
            check=True,
        )
        return result.stdout.decode().strip()

    def commit(self, message, files=None):
        self.n += 1
        for name, content in (files or {f"file{self.n}.txt": f"content {self.n}\n"}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                target.unlink()
            else:
                target.write_bytes(content if isinstance(content, bytes) else content.encode())
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, date=BASE + self.n * 60)
        return self.git("rev-parse", "HEAD")

    def tag(self, name, rev="HEAD", message=None, force=False):
        """An annotated tag (GTO's kind) unless message is False; tagger time advances with each tag."""
        self.n += 1
        args = ["tag", *(["-f"] if force else [])]
        if message is False:
            self.git(*args, name, rev)
        else:
            self.git(*args, "-a", name, "-m", message or name, rev, date=BASE + self.n * 60)
        return self.git("rev-parse", f"{name}^{{commit}}")
