"""The one small wrapper over Git that the sync uses.

Choice: the ``git`` command-line program through :mod:`subprocess`, not a Python Git library. The CLI is
already on every host that serves Git, it is fast on big histories (one ``git log`` or ``git for-each-ref``
call reads 10,000 commits or 1,000 tags in milliseconds, with packfiles, commit-graphs and delta caches a
pure-Python reader lacks), it speaks every transport (https, ssh, file) with the same credential and proxy
handling the operators already know, and it adds no pip dependency. Every call goes through :func:`_run`,
which sets a timeout, kills the whole process group on expiry, and turns failures into :class:`GitError`.

Mirror layout: a bare repository (``Mirror.path``) with ``remote.origin`` fetching ``+refs/heads/*`` and
``+refs/tags/*`` onto the same names, so ``refs/heads/<branch>`` and ``refs/tags/<tag>`` in the mirror are
exactly the remote's after :meth:`Mirror.fetch` (``--prune --prune-tags --force``: deleted branches and tags
disappear, rewritten branches and moved tags are overwritten; the caller compares with what it stored). The first
fetch into an empty mirror is a ``git clone --bare`` of those same refs, swapped in for it (it packs every ref at once).

Credentials: never on the command line and never in the repository config. A ``credential`` (a token or
password the caller resolved from an environment variable or file) is handed to Git through the
environment: a throw-away ``GIT_ASKPASS`` script (mode 0700, in a private temp directory) that prints
``$GOVPORTAL_GIT_PASSWORD``, and only when Git's prompt names one of ``allowed_hosts`` (the hosts a portal admin
granted the credential for; redirects are not followed); the script itself contains no secret. Helpers are
disabled for the fetch (``-c credential.helper=``), prompts are disabled (``GIT_TERMINAL_PROMPT=0``, ssh
``BatchMode=yes``), and every message is scrubbed of the credential and of URL user-info.
SSH authentication uses the host's ssh keys/agent (or ``GIT_SSH_COMMAND``); ``credential`` is for http(s).

Transient vs permanent (``GitError.transient``), decided from Git's stderr (run with ``LC_ALL=C``):
  * transient (retry later): timeouts, connection refused/reset/timed out, DNS failures, network
    unreachable, TLS handshake errors, remote hung up / early EOF, HTTP 429 and 5xx.
  * permanent (needs a person): authentication failures (HTTP 401/403, "Authentication failed",
    "could not read Username", ssh "Permission denied", host key verification), a missing repository
    ("does not appear to be a git repository", "Repository not found", HTTP 404), a missing ref or
    object, a mirror that is not a repository, a rejected URL scheme, and anything unrecognised (so an
    unknown failure is reported instead of retried forever). Auth/not-found patterns win over network ones,
    because Git follows them with "Could not read from remote repository".
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

GIT = shutil.which("git") or "git"
DEFAULT_TIMEOUT = 30.0  # local plumbing
FETCH_TIMEOUT = 300.0  # network
DEFAULT_USERNAME = "x-access-token"  # what token-based https hosts accept when the URL names no user
ALLOWED_PROTOCOLS = "https:http:ssh:file"
NETWORK_PROTOCOLS = "https:http:ssh"

_SHA_RE = re.compile(r"^[0-9a-f]{4,64}$")
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_SCP_RE = re.compile(r"^(?:[^@/\s]+@)?[^/:\s]{2,}:(?!//)")  # git@host:org/repo.git (2+ chars: not C:\)
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_CLEARED_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
)
_PERMANENT = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "permission denied",
    "host key verification failed",
    "does not appear to be a git repository",
    "repository not found",
    "not a git repository",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
    "the requested url returned error: 404",
    "unknown revision",
    "bad revision",
    "not a valid object name",
    "not a valid commit name",
    "unsupported url protocol",
    "transport '",
)
_TRANSIENT = (
    "connection refused",
    "connection timed out",
    "connection reset",
    "operation timed out",
    "timed out",
    "failed to connect",
    "couldn't connect to server",
    "could not resolve host",
    "could not resolve proxy",
    "temporary failure in name resolution",
    "name or service not known",
    "network is unreachable",
    "no route to host",
    "the remote end hung up unexpectedly",
    "early eof",
    "rpc failed",
    "gnutls",
    "ssl_error",
    "ssl connect error",
    "the requested url returned error: 429",
    "the requested url returned error: 5",
)


class GitError(Exception):
    """A Git operation failed. ``str(error)`` is readable and free of credentials."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient


class FileTooLarge(GitError):
    """A file in the repository is over the caller's size limit; its content was not read."""

    def __init__(self, path: str, size: int, limit: int):
        super().__init__(f"{path} is {size:,} bytes, over the {limit:,}-byte limit", transient=False)
        self.path = path
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class Symlink:
    """A path that is a symbolic link at a commit; the sync reads regular files only (see Mirror.read_files)."""

    path: str


@dataclass(frozen=True)
class Commit:
    sha: str
    author_name: str
    author_email: str
    committed_at: datetime  # committer date, aware, UTC
    subject: str
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Tag:
    name: str  # without refs/tags/, e.g. "v1.2.0", "churn@v1.2.0", "churn#prod#3"
    target_sha: str  # the commit the tag points at, annotated tags peeled
    annotated: bool
    tagger_name: str  # "" for lightweight tags
    tagger_email: str
    tagged_at: datetime | None  # tagger date (UTC) for annotated tags, None for lightweight ones
    message: str  # "" for lightweight tags


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without the given secrets and without user-info in URLs."""
    text = _USERINFO_RE.sub(r"\1***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def classify(stderr: str) -> bool:
    """True when Git's ``stderr`` describes a failure worth retrying later (see the module docstring)."""
    low = stderr.lower()
    if any(pattern in low for pattern in _PERMANENT):
        return False
    return any(pattern in low for pattern in _TRANSIENT)


def _detail(stderr: str) -> str:
    lines = []
    for raw in stderr.splitlines():
        line = raw.strip()
        for prefix in ("fatal: ", "error: ", "remote: "):
            line = line.removeprefix(prefix)
        if line and line not in lines and not line.startswith(("Please make sure", "and the repository exists")):
            lines.append(line)
    return "; ".join(lines)


def _check_rev(rev: str) -> str:
    if not rev or rev.startswith("-") or any(c in rev for c in "\n\r\x00 "):
        raise GitError(f"invalid revision {rev!r}")
    return rev


def check_url(url: str) -> str:
    """A URL Git may fetch from: https, http, ssh (also scp-like), file://, or a local path made absolute."""
    if not url or url.startswith("-") or any(c in url for c in "\n\r\x00"):
        raise GitError("the repository URL is empty or malformed")
    match = _SCHEME_RE.match(url)
    if match:
        scheme = match.group(1).lower()
        if scheme not in {"https", "http", "ssh", "file"}:
            raise GitError(f"unsupported URL scheme {scheme!r} (use https, ssh, file:// or a local path)")
        return url
    if "::" in url:
        raise GitError("remote-helper URLs (<transport>::<address>) are not supported")
    if _SCP_RE.match(url):
        return url
    return str(Path(url).expanduser().resolve())


def check_branch(branch: str) -> str:
    """A valid branch name (Git's own rules, `git check-ref-format --branch`), or GitError."""
    if not branch or branch.startswith("-") or any(c in branch for c in "\n\r\x00 "):
        raise GitError(f"invalid branch name {branch!r}")
    if _run(["check-ref-format", "--branch", branch], ok_codes=(0, 1, 128)).returncode != 0:
        raise GitError(f"invalid branch name {branch!r}")
    return branch


def _run(
    args: list[str],
    *,
    git_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    ok_codes: tuple[int, ...] = (0,),
    secrets: tuple[str, ...] = (),
    what: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git <args>``; raise GitError (credentials scrubbed) on a timeout or an exit code not in ok_codes."""
    command = [GIT]
    if git_dir is not None:
        command.append(f"--git-dir={git_dir}")
    command.extend(args)
    full_env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
    full_env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    full_env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    full_env.update(env or {})
    label = what or f"git {args[0]}"
    try:
        process = subprocess.Popen(  # noqa: S603 - fixed program, argument list, no shell
            command,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            start_new_session=True,
        )
    except OSError as exc:
        raise GitError(f"{label}: cannot run git ({exc.strerror})") from None
    try:
        stdout, stderr = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise GitError(f"{label} timed out after {timeout:g} s", transient=True) from None
    if process.returncode not in ok_codes:
        text = redact(stderr.decode("utf-8", errors="replace"), secrets)
        detail = _detail(text) or f"exit status {process.returncode}"
        raise GitError(f"{label} failed: {detail}", transient=classify(text))
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_or_none(timestamp: bytes) -> datetime | None:
    """A Unix time as Git printed it, or None when it is missing or out of range (a hand-made object's date)."""
    try:
        return datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        return None


# Answers Git's "Username for 'https://host'" / "Password for 'https://user@host'" prompts, and only when the
# prompt names a host the credential was granted for ($GOVPORTAL_GIT_HOSTS: "host" or "host:port" words).
_ASKPASS = """#!/bin/sh
url=$(printf '%s' "$1" | sed -n "s/^[^']*'\\([^']*\\)'.*$/\\1/p")
hostport=$(printf '%s' "$url" | sed -e 's#^[A-Za-z][A-Za-z0-9+.-]*://##' -e 's#^[^@/]*@##' -e 's#/.*$##' \\
  | tr 'A-Z' 'a-z')
host=${hostport%%:*}
ok=
for allowed in $GOVPORTAL_GIT_HOSTS; do
  if [ -n "$hostport" ] && { [ "$allowed" = "$hostport" ] || [ "$allowed" = "$host" ]; }; then ok=1; fi
done
if [ -z "$ok" ]; then
  echo "govportal: the credential is not granted for ${hostport:-this host}; refusing to send it" >&2
  exit 1
fi
case "$1" in
  [Uu]sername*) printf '%s\\n' "$GOVPORTAL_GIT_USERNAME" ;;
  *) printf '%s\\n' "$GOVPORTAL_GIT_PASSWORD" ;;
esac
"""

# Fields end in NUL (%x00, %00): Git prints every field as a C string, so no field holds one, while any other byte
# (a unit separator, a newline, a space) may stand in an author, a tagger or a message.
_LOG_FIELDS = ("%H", "%P", "%an", "%ae", "%ct", "%s")
_LOG_FORMAT = "%x00".join(_LOG_FIELDS)  # `git log -z` ends each record with NUL too
_TAG_FIELDS = (
    "%(refname)", "%(objecttype)", "%(objectname)", "%(*objecttype)", "%(*objectname)",
    "%(taggername)", "%(taggeremail:trim)", "%(taggerdate:unix)", "%(contents:signature)", "%(contents)",
)  # fmt: skip
_TAG_FORMAT = "%00".join(_TAG_FIELDS) + "%00"  # for-each-ref adds a newline after each record


@dataclass
class Mirror:
    """A bare local mirror of one remote repository. Create with ensure(), update with fetch()."""

    path: Path
    url: str
    credential: str | None = None
    username: str | None = None  # for http(s) with a credential; the URL's user, else DEFAULT_USERNAME
    allowed_hosts: tuple[str, ...] = ()  # the only hosts GIT_ASKPASS hands the credential to
    allow_local: bool = True  # False: fetch over the network transports only (no file:// or local path)

    def __post_init__(self):
        self.path = Path(self.path)

    def __repr__(self) -> str:  # the dataclass default would print the credential
        return f"Mirror(path={str(self.path)!r}, url={redact(self.url)!r})"

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self.credential,) if self.credential else ()

    def _git(self, *args: str, **kwargs) -> subprocess.CompletedProcess[bytes]:
        kwargs.setdefault("secrets", self._secrets)
        return _run(list(args), git_dir=self.path, **kwargs)

    # -- setting up and fetching --------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def ensure(self) -> None:
        """Create the bare mirror if missing; point remote.origin at ``url`` (no credentials are stored)."""
        url = check_url(self.url)
        if not self.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            _run(["init", "--bare", "--quiet", str(self.path)])
            _configure(self.path, url)
            return
        current = self._git("config", "--get", "remote.origin.url", ok_codes=(0, 1)).stdout.decode().strip()
        if current != url:
            self._git("config", "remote.origin.url", url)

    @contextlib.contextmanager
    def _remote_access(self):
        """The `-c` options and environment for talking to the remote: askpass for the credential, hosts, protocols."""
        if not self.exists():
            raise GitError(f"the mirror at {self.path} does not exist (call ensure() first)")
        env: dict[str, str] = {} if self.allow_local else {"GIT_ALLOW_PROTOCOL": NETWORK_PROTOCOLS}
        config = ["-c", "credential.helper="]
        askpass_dir = None
        if self.credential:
            if not self.allowed_hosts:
                raise GitError("a credential without allowed hosts is never sent")
            config += ["-c", "http.followRedirects=false"]  # a redirect must not carry the secret elsewhere
            askpass_dir = tempfile.mkdtemp(prefix="govportal-askpass-")
            script = Path(askpass_dir) / "askpass.sh"
            script.write_text(_ASKPASS)
            script.chmod(0o700)
            env |= {
                "GIT_ASKPASS": str(script),
                "GOVPORTAL_GIT_USERNAME": self.username or DEFAULT_USERNAME,
                "GOVPORTAL_GIT_PASSWORD": self.credential,
                "GOVPORTAL_GIT_HOSTS": " ".join(self.allowed_hosts),
            }
        try:
            yield config, env
        finally:
            if askpass_dir:
                shutil.rmtree(askpass_dir, ignore_errors=True)

    def fetch(self, timeout: float = FETCH_TIMEOUT) -> None:
        """Fetch every branch and tag from the remote, pruning deleted refs and overwriting rewritten ones."""
        what = f"git fetch from {redact(self.url, self._secrets)}"
        with self._remote_access() as (config, env):
            if self._empty():
                self._clone(config, env, timeout, what)
                return
            self._git(
                *config, "fetch", "--quiet", "--prune", "--prune-tags", "--force", "--no-write-fetch-head", "origin",
                env=env, timeout=timeout, what=what,
            )  # fmt: skip
        # Fetched refs land one file each: packed, 10,000 tags are read in milliseconds rather than a tenth of a second.
        self._git("pack-refs", "--all")

    def _empty(self) -> bool:
        """True while the mirror holds no branch and no tag (a first fetch)."""
        return not self._git("for-each-ref", "--count=1", "--format=x", "refs/heads", "refs/tags").stdout

    def _clone(self, config: list[str], env: dict[str, str], timeout: float, what: str) -> None:
        """The first fetch, as a bare clone swapped in for the empty mirror. `git fetch` writes and checks each new ref
        on its own (7 s of 8 for 10,000 tags, most of it in the kernel) where `git clone` writes them all to
        packed-refs at once (1 s). `--no-local`: a local source goes through Git's file transport, as fetch does, so
        GIT_ALLOW_PROTOCOL still refuses it for a network-only mirror, and no file of it is hard-linked or copied."""
        scratch = Path(tempfile.mkdtemp(prefix=f"{self.path.name}.clone-", dir=self.path.parent))
        try:
            clone = scratch / "mirror.git"
            _run(
                [*config, "clone", "--bare", "--no-local", "--quiet", "--", check_url(self.url), str(clone)],
                env=env, timeout=timeout, secrets=self._secrets, what=what,
            )  # fmt: skip
            _configure(clone, check_url(self.url))
            self.path.rename(scratch / "empty.git")
            clone.rename(self.path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def remote_refs(self, branch: str, timeout: float = FETCH_TIMEOUT) -> tuple[str | None, str]:
        """refs() as the remote has them, asked without fetching (`git ls-remote`): when both equal what the last sync
        stored, there is nothing to fetch."""
        wanted = f"refs/heads/{_check_rev(branch)}".encode()
        with self._remote_access() as (config, env):
            out = self._git(
                *config, "ls-remote", "--heads", "--tags", "origin",
                env=env, timeout=timeout, what=f"git ls-remote of {redact(self.url, self._secrets)}",
            ).stdout  # fmt: skip
        head, tags = None, []
        # "<object id> TAB <ref name>" lines: Git refuses control characters (tab, newline) in ref names.
        for line in out.split(b"\n"):
            objectname, _, refname = line.partition(b"\t")
            if refname == wanted:
                head = _text(objectname)
            elif refname.startswith(b"refs/tags/") and not refname.endswith(b"^{}"):  # ^{}: a peeled copy
                tags.append((refname, objectname))
        return head, _ref_digest(tags)

    def commit_files(self, parent: str, files: dict[str, bytes], message: str, author: tuple[str, str]) -> str:
        """A new commit on top of `parent` with `files` (path → content) replaced; returns its SHA. Plumbing only:
        the mirror stays bare, no working tree and no ref is touched."""
        parent = _check_rev(parent)
        if any(not path or path.startswith("/") or any(c in path for c in "\n\r\x00") for path in files):
            raise GitError("invalid path in a commit")
        name, email = author
        identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
                    "GIT_COMMITTER_EMAIL": email}  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="govportal-index-") as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index"), **identity}
            self._git("read-tree", parent, env=env)
            for path, content in files.items():
                blob = self._git("hash-object", "-w", "--stdin", input=content).stdout.decode().strip()
                self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self._git("write-tree", env=env).stdout.decode().strip()
        return (
            self._git("commit-tree", tree, "-p", parent, input=message.encode(), env=identity).stdout.decode().strip()
        )

    def push(self, commit: str, branch: str, timeout: float = FETCH_TIMEOUT) -> None:
        """Push `commit` to the remote's `branch` as a fast-forward; GitError(transient=False) with "rejected" in its
        text when the branch moved meanwhile (fetch and try again on the fresh head)."""
        refspec = f"{_check_rev(commit)}:refs/heads/{_check_rev(branch)}"
        with self._remote_access() as (config, env):
            self._git(
                *config, "push", "--quiet", "--porcelain", "origin", refspec,
                env=env, timeout=timeout, what=f"git push to {redact(self.url, self._secrets)}",
            )  # fmt: skip

    def message(self, commit: str) -> str:
        """The full message of `commit`."""
        return _text(self._git("log", "-1", "--format=%B", _check_rev(commit)).stdout)

    # -- reading -------------------------------------------------------------------------------------------

    def resolve(self, rev: str) -> str | None:
        """The commit SHA ``rev`` names in the mirror, or None."""
        result = self._git("rev-parse", "--verify", "--quiet", f"{_check_rev(rev)}^{{commit}}", ok_codes=(0, 1))
        sha = result.stdout.decode().strip()
        return sha if result.returncode == 0 and sha else None

    def head(self, branch: str) -> str | None:
        """The commit SHA of ``refs/heads/<branch>`` in the mirror, or None when the branch does not exist."""
        return self.resolve(f"refs/heads/{_check_rev(branch)}")

    def refs(self, branch: str) -> tuple[str | None, str]:
        """The commit SHA of ``refs/heads/<branch>`` (None when it does not exist) and a digest of every tag ref, by
        name and the object it names: one for-each-ref call that reads no object, enough to tell that nothing moved
        since a sync that stored the digest."""
        wanted = f"refs/heads/{_check_rev(branch)}".encode()
        out = self._git("for-each-ref", "--format=%(refname)%00%(objectname)%00", wanted.decode(), "refs/tags").stdout
        head, tags = None, []
        for refname, objectname in _records(out, 2, leading_newline=True):
            if refname == wanted:
                head = _text(objectname)
            elif refname.startswith(b"refs/tags/"):
                tags.append((refname, objectname))
        return head, _ref_digest(tags)

    def branches(self) -> list[str]:
        out = self._git("for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads").stdout
        return [line for line in _text(out).split("\n") if line]  # "\x85" is a line break to str.splitlines()

    def is_ancestor(self, a: str, b: str) -> bool:
        """True when commit ``a`` is ``b`` or an ancestor of it; False also when ``a`` is unknown (gc'd)."""
        if self.resolve(a) is None:
            return False
        if self.resolve(b) is None:
            raise GitError(f"unknown commit {b}")
        return self._git("merge-base", "--is-ancestor", a, b, ok_codes=(0, 1)).returncode == 0

    def commits(self, branch: str, since: str | None = None, paths: tuple[str, ...] = ()) -> list[Commit]:
        """Commits on ``branch``, oldest first (parents before children).

        With ``since`` (a commit the mirror knows), only the commits reachable from the branch and not from
        ``since``: the new commits after a fast-forward, and the rewritten ones after a force-push (detect that
        with ``is_ancestor(since, head)``). An unknown ``since`` (e.g. garbage-collected) gives the full history.
        With ``paths``, only the commits that changed one of them.
        """
        head = self.head(branch)
        if head is None:
            raise GitError(f"branch {branch!r} does not exist in the mirror")
        revs = [head]
        if since is not None and self.resolve(since) is not None:
            revs.append(f"^{_check_rev(since)}")
        out = self._git("log", "-z", "--date-order", "--reverse", f"--format={_LOG_FORMAT}", *revs, "--", *paths).stdout
        return _parse_log(out)

    def count_commits(self, branch: str, since: str | None = None) -> int:
        """len(commits(branch, since)) without reading them: one `git rev-list --count`."""
        head = self.head(branch)
        if head is None:
            raise GitError(f"branch {branch!r} does not exist in the mirror")
        revs = [head]
        if since is not None and self.resolve(since) is not None:
            revs.append(f"^{_check_rev(since)}")
        return int(self._git("rev-list", "--count", *revs, "--").stdout)

    def commit_info(self, shas) -> dict[str, Commit]:
        """Author, time and subject of each given commit, in one ``git log --no-walk`` call; unknown ones left out."""
        shas = list(dict.fromkeys(shas))  # tag targets from tags(): commits the mirror has
        if not shas:
            return {}
        query = "".join(f"{_check_rev(sha)}\n" for sha in shas).encode()
        result = self._git("log", "-z", "--no-walk=unsorted", "--stdin", f"--format={_LOG_FORMAT}", input=query)
        return {commit.sha: commit for commit in _parse_log(result.stdout)}

    def tags(self, skipped: list[tuple[str, str]] | None = None) -> list[Tag]:
        """Every tag pointing (directly or through annotated tags) at a commit, in one for-each-ref call.

        A tag on anything else (a tree, a blob) is no release: it is left out, and named with the kind of object it
        points at in ``skipped`` when the caller passes a list to report them.
        """
        out = self._git("for-each-ref", f"--format={_TAG_FORMAT}", "refs/tags").stdout
        tags = []
        deep: list[int] = []  # tags whose one-level peel is still a tag (tag of a tag)
        for fields in _records(out, len(_TAG_FIELDS), leading_newline=True):
            refname, otype, oname, ptype, pname, tagger, email, date, signature, contents = fields
            # A ref name is any bytes Git allows; backslash escapes keep two undecodable names apart.
            name = refname.decode("utf-8", errors="backslashreplace").removeprefix("refs/tags/")
            annotated = otype == b"tag"
            target, target_type = (pname, ptype) if annotated else (oname, otype)
            if target_type not in {b"commit", b"tag"}:
                if skipped is not None:
                    skipped.append((name, _text(target_type) or "missing object"))
                continue
            if target_type == b"tag":
                deep.append(len(tags))
            message = ""
            if annotated:
                message = _text(contents)
                if signature and message.endswith(_text(signature)):
                    message = message[: -len(_text(signature))]
            tags.append(
                Tag(
                    name=name,
                    target_sha=_text(target),
                    annotated=annotated,
                    tagger_name=_text(tagger) if annotated else "",
                    tagger_email=_text(email) if annotated else "",
                    tagged_at=_utc_or_none(date) if annotated else None,
                    message=message.strip("\n"),
                )
            )
        if deep:
            query = "".join(f"{_check_rev(tags[i].target_sha)}^{{}}\n" for i in deep).encode()
            out = _text(self._git("cat-file", "--batch-check=%(objectname) %(objecttype)", input=query).stdout)
            dropped = set()
            for i, line in zip(deep, out.rstrip("\n").split("\n"), strict=True):
                sha, _, kind = line.rpartition(" ")
                if kind == "commit":
                    tags[i] = replace(tags[i], target_sha=sha)
                else:
                    dropped.add(i)
                    if skipped is not None:
                        skipped.append((tags[i].name, kind if kind in {"tree", "blob"} else "missing object"))
            tags = [tag for i, tag in enumerate(tags) if i not in dropped]
        return tags

    def read_file(self, commit: str, path: str, max_bytes: int) -> bytes | None:
        """The bytes of ``path`` at ``commit``; None when there is no file there; FileTooLarge over max_bytes."""
        if any(c in path for c in "\n\r\x00"):
            raise GitError(f"invalid path {path!r}")
        commit = _check_rev(commit)
        query = f"{commit}^{{commit}}\n{commit}:{path}\n".encode()
        out = _text(
            self._git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", input=query).stdout
        )
        lines = out.rstrip("\n").split("\n")  # a missing path is echoed back, line-breaking characters and all
        if len(lines) != 2 or lines[0].endswith(" missing") or len(lines[0].split()) != 3:
            raise GitError(f"unknown commit {commit}")
        fields = lines[1].split()
        if len(fields) != 3 or fields[1] != "blob":
            return None  # missing, or a directory / submodule
        sha, _, size = fields
        if int(size) > max_bytes:
            raise FileTooLarge(path, int(size), max_bytes)
        return self._git("cat-file", "blob", sha).stdout

    def read_files(
        self, wanted, max_bytes: int, *, links: bool = False
    ) -> dict[tuple[str, str], bytes | FileTooLarge | Symlink | None]:
        """Many ``(commit, path)`` files in two Git calls: sizes first, then every blob within ``max_bytes``.

        Each value is the bytes, None (no such file), or a FileTooLarge to report. The commits must exist. With
        ``links``, a path that is a symbolic link is a Symlink instead of the link's text: the sizes and modes then
        come from the folders' trees (one more call).
        """
        wanted = list(dict.fromkeys(wanted))
        if not wanted:
            return {}
        if any(c in path for _, path in wanted for c in "\n\r\x00"):
            raise GitError("invalid path in a batch read")
        results: dict[tuple[str, str], bytes | FileTooLarge | Symlink | None] = {}
        blobs: dict[str, list[tuple[str, str]]] = {}
        if links:
            # The folders' trees tell the modes (links) and the blobs at once; only paths a tree cannot answer plainly
            # ("a//b", "./a", "a/") are asked the slower way below.
            wanted = self._read_trees(wanted, max_bytes, results, blobs)
        asked = set(wanted)
        query = "".join(f"{_check_rev(commit)}:{path}\n" for commit, path in wanted).encode()
        checked = (
            self._git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", input=query).stdout
            if wanted
            else b""
        )
        # Split on newlines only: a missing path is echoed back, and may hold other line-breaking characters.
        for key, raw in zip(wanted, checked.split(b"\n")[: len(wanted)], strict=True):
            fields = raw.split(b" ")
            if len(fields) != 3 or fields[1] != b"blob" or not fields[2].isdigit():
                results[key] = None  # missing, or a directory / submodule
            elif int(fields[2]) > max_bytes:
                results[key] = FileTooLarge(key[1], int(fields[2]), max_bytes)
            else:
                blobs.setdefault(fields[0].decode(), []).append(key)
        unchecked = [key for keys in blobs.values() for key in keys if key in asked] if links else []
        if unchecked:
            for key in self._symlinks(unchecked):
                results[key] = Symlink(key[1])
                for keys in blobs.values():
                    if key in keys:
                        keys.remove(key)
            blobs = {sha: keys for sha, keys in blobs.items() if keys}
        if blobs:
            out = self._git("cat-file", "--batch", input="".join(f"{sha}\n" for sha in blobs).encode()).stdout
            position = 0
            for keys in blobs.values():
                header_end = out.index(b"\n", position)
                size = int(out[position:header_end].split()[2])
                content = out[header_end + 1 : header_end + 1 + size]
                position = header_end + 1 + size + 1  # the blob, then a newline
                for key in keys:
                    results[key] = content
        return results

    def _read_trees(self, wanted, max_bytes: int, results: dict, blobs: dict) -> list[tuple[str, str]]:
        """read_files(links=True) through the folders' tree objects, two calls whatever the number of files: each
        folder's tree (entries' modes and blob ids), then the sizes of the distinct blobs. Fills `results` (missing,
        too large, links) and `blobs` (blob id → keys to read) as read_files does; returns the keys it leaves to it."""
        folders: dict[tuple[str, str], list[tuple[bytes, tuple[str, str]]]] = {}
        rest = []
        for commit, path in wanted:
            directory, _, name = path.rpartition("/")
            if not name or path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
                rest.append((commit, path))
                continue
            folders.setdefault((_check_rev(commit), directory), []).append((name.encode(), (commit, path)))
        if not folders:
            return rest
        query = "".join(
            f"{commit}:{directory}\n" if directory else f"{commit}^{{tree}}\n" for commit, directory in folders
        )
        out = self._git("cat-file", "--batch", input=query.encode()).stdout
        entries: dict[str, list[tuple[tuple[str, str], bytes]]] = {}  # blob id → (key, mode)
        position = 0
        for names in folders.values():
            header_end = out.index(b"\n", position)
            header = out[position:header_end].split(b" ")
            position = header_end + 1
            tree = {}
            if header[-1].isdigit():  # else "<query> missing": a header line and nothing else
                size = int(header[-1])
                body, position = out[position : position + size], position + size + 1
                if header[1] == b"tree":
                    tree = _tree_entries(body, id_bytes=len(header[0]) // 2)
            for name, key in names:
                if name in tree:  # what it is, the object's type says below (a tree or a submodule is no file)
                    mode, oid = tree[name]
                    entries.setdefault(oid, []).append((key, mode))
                else:
                    results[key] = None
        if not entries:
            return rest
        query = "".join(f"{oid}\n" for oid in entries).encode()
        checked = self._git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", input=query).stdout
        for (oid, keys), raw in zip(entries.items(), checked.split(b"\n")[: len(entries)], strict=True):
            fields = raw.split(b" ")
            for key, mode in keys:
                if len(fields) != 3 or fields[1] != b"blob" or not fields[2].isdigit():
                    results[key] = None  # a folder, a submodule, or a missing object a hand-made tree names
                elif int(fields[2]) > max_bytes:
                    results[key] = FileTooLarge(key[1], int(fields[2]), max_bytes)
                elif mode == b"120000":
                    results[key] = Symlink(key[1])
                else:
                    blobs.setdefault(oid, []).append(key)
        return rest

    def _symlinks(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(commit, path)`` name a symbolic link (mode 120000): Git reads a link as a blob holding its target,
        so the modes come from the folders' tree objects, all in one call."""
        folders: dict[tuple[str, str], list[tuple[bytes, tuple[str, str]]]] = {}
        for commit, path in keys:
            directory, _, name = path.rpartition("/")
            folders.setdefault((commit, directory), []).append((name.encode(), (commit, path)))
        query = "".join(
            f"{commit}:{directory}\n" if directory else f"{commit}^{{tree}}\n" for commit, directory in folders
        )
        out = self._git("cat-file", "--batch", input=query.encode()).stdout
        found, position = set(), 0
        for entries in folders.values():
            header_end = out.index(b"\n", position)
            header = out[position:header_end].split(b" ")
            position = header_end + 1
            if not header[-1].isdigit():
                continue  # "<query> missing": a header line and nothing else
            size = int(header[-1])
            body, position = out[position : position + size], position + size + 1
            if header[1] != b"tree":
                continue
            modes = _tree_modes(body, id_bytes=len(header[0]) // 2)
            found.update(key for name, key in entries if modes.get(name) == b"120000")
        return found

    def list_paths(self, commit: str) -> list[str]:
        """Every file path at ``commit``, sorted as Git sorts them."""
        out = self._git("ls-tree", "-r", "-z", "--name-only", "--full-tree", _check_rev(commit), "--").stdout
        return [p for p in _text(out).split("\x00") if p]

    def list_files(self, commit: str, pattern_names: set[str] | frozenset[str]) -> list[str]:
        """Paths at ``commit`` whose basename is in ``pattern_names``, sorted as Git sorts them."""
        return [p for p in self.list_paths(commit) if p.rsplit("/", 1)[-1] in pattern_names]

    def changed_files(self, a: str, b: str) -> list[str]:
        """Paths added, modified or deleted between commits ``a`` and ``b`` (renames as delete + add)."""
        out = self._git("diff", "--name-only", "-z", "--no-renames", _check_rev(a), _check_rev(b), "--").stdout
        return [p for p in _text(out).split("\x00") if p]


def _configure(path: Path, url: str) -> None:
    """A mirror's remote: `url`, its branches and tags fetched onto the same names, no other tags followed."""
    _run(["config", "remote.origin.url", url], git_dir=path)
    _run(["config", "--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"], git_dir=path)
    _run(["config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*"], git_dir=path)
    _run(["config", "remote.origin.tagOpt", "--no-tags"], git_dir=path)


def _ref_digest(refs: list[tuple[bytes, bytes]]) -> str:
    """SHA-256 over (ref name, object id) pairs, in ref-name order whatever order they came in."""
    digest = hashlib.sha256()
    for refname, objectname in sorted(refs):
        digest.update(b"%s\0%s\0" % (refname, objectname))
    return digest.hexdigest()


def _tree_entries(tree: bytes, id_bytes: int) -> dict[bytes, tuple[bytes, str]]:
    """Entry name → (mode, object id in hex) of a raw tree object, the first of a name as Git finds it; stops at
    anything malformed (see _tree_modes)."""
    entries, position = {}, 0
    while position < len(tree):
        space = tree.find(b" ", position)
        end = tree.find(b"\x00", space + 1)
        if space < 0 or end < 0 or end + 1 + id_bytes > len(tree):
            break
        entries.setdefault(tree[space + 1 : end], (tree[position:space], tree[end + 1 : end + 1 + id_bytes].hex()))
        position = end + 1 + id_bytes
    return entries


def _tree_modes(tree: bytes, id_bytes: int) -> dict[bytes, bytes]:
    """Entry name → mode of a raw tree object (``<mode> <name>\\0<object id>`` entries); stops at anything malformed."""
    modes, position = {}, 0
    while position < len(tree):
        space = tree.find(b" ", position)
        end = tree.find(b"\x00", space + 1)
        if space < 0 or end < 0:
            break
        modes[tree[space + 1 : end]] = tree[position:space]
        position = end + 1 + id_bytes
    return modes


def _records(out: bytes, width: int, *, leading_newline: bool = False) -> list[list[bytes]]:
    """Records of ``width`` NUL-terminated fields (see _LOG_FORMAT); for-each-ref starts each later record with the
    newline it printed after the one before (``leading_newline``)."""
    fields = out.split(b"\x00")
    rest = fields.pop()  # after the last terminator: nothing, or for-each-ref's final newline
    if rest.strip(b"\n") or len(fields) % width:
        raise GitError(f"unexpected output from git: {len(fields)} fields, not records of {width}")
    records = [fields[i : i + width] for i in range(0, len(fields), width)]
    if leading_newline:
        for record in records[1:]:
            record[0] = record[0].removeprefix(b"\n")
    return records


def _parse_log(out: bytes) -> list[Commit]:
    commits = []
    for sha, parents, name, email, committed, subject in _records(out, len(_LOG_FIELDS)):
        commits.append(
            Commit(
                sha=_text(sha),
                author_name=_text(name),
                author_email=_text(email),
                committed_at=_utc_or_none(committed) or EPOCH,
                subject=_text(subject),
                parents=tuple(_text(parents).split(" ")) if parents else (),
            )
        )
    return commits
