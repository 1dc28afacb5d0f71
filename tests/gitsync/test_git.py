"""The Git wrapper against real repositories built in tmp dirs (no network, no database)."""

import base64
import os
import socket
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.gitsync.git import FileTooLarge, GitError, Mirror, Symlink, classify, redact

from .gitwork import BASE, Work

TOKEN = "ghp_SuperSecretToken1234567890"


@pytest.fixture
def mirror(tmp_path, remote):
    m = Mirror(tmp_path / "mirrors" / "remote.git", f"file://{remote.path}")
    m.ensure()
    return m


def test_ensure_and_fetch_from_a_file_url(remote, mirror):
    c1 = remote.commit("first")
    c2 = remote.commit("second")
    mirror.fetch(timeout=30)
    assert mirror.head("main") == c2
    assert mirror.head("nope") is None
    commits = mirror.commits("main", None)
    assert [c.sha for c in commits] == [c1, c2]
    first = commits[0]
    assert first.author_name == "Dana Dev"
    assert first.author_email == "dana@example.org"
    assert first.subject == "first"
    assert first.parents == ()
    assert commits[1].parents == (c1,)
    assert first.committed_at == datetime.fromtimestamp(BASE + 60, UTC)
    assert first.committed_at.tzinfo is not None


def test_ensure_and_fetch_from_a_plain_path_is_idempotent(tmp_path, remote):
    c1 = remote.commit("first")
    mirror = Mirror(tmp_path / "m.git", str(remote.path))
    mirror.ensure()
    mirror.ensure()  # a second ensure() keeps the mirror
    mirror.fetch()
    assert mirror.head("main") == c1
    assert mirror.exists()
    assert (tmp_path / "m.git" / "HEAD").is_file()
    assert not (tmp_path / "m.git" / ".git").exists()  # bare


def test_ensure_follows_a_changed_url(tmp_path, remote):
    c1 = remote.commit("first")
    other = Work(tmp_path / "other")
    c_other = other.commit("elsewhere")
    Mirror(tmp_path / "m.git", str(remote.path)).ensure()
    mirror = Mirror(tmp_path / "m.git", str(other.path))
    mirror.ensure()
    mirror.fetch()
    assert mirror.head("main") == c_other != c1


def test_commits_since_a_sha_are_only_the_new_ones_oldest_first(remote, mirror):
    remote.commit("one")
    c2 = remote.commit("two")
    mirror.fetch()
    c3 = remote.commit("three")
    c4 = remote.commit("four")
    mirror.fetch()
    new = mirror.commits("main", since=c2)
    assert [c.sha for c in new] == [c3, c4]
    assert [c.subject for c in new] == ["three", "four"]
    assert mirror.commits("main", since=c4) == []
    assert [mirror.count_commits("main"), mirror.count_commits("main", c2), mirror.count_commits("main", c4)] == [
        4,
        2,
        0,
    ]
    assert mirror.is_ancestor(c2, c4)


def test_merge_commits_list_parents_before_children(remote, mirror):
    base = remote.commit("base")
    remote.git("checkout", "-q", "-b", "feature")
    feature = remote.commit("feature work")
    remote.git("checkout", "-q", "main")
    main = remote.commit("main work")
    remote.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature", date=BASE + 10_000)
    merge = remote.git("rev-parse", "HEAD")
    mirror.fetch()
    commits = mirror.commits("main")
    order = [c.sha for c in commits]
    assert order[0] == base and order[-1] == merge
    assert set(commits[-1].parents) == {feature, main}
    assert sorted(mirror.branches()) == ["feature", "main"]


def test_force_push_is_detected(remote, mirror):
    c1 = remote.commit("one")
    c2 = remote.commit("two")
    mirror.fetch()
    old_head = mirror.head("main")
    assert old_head == c2
    remote.git("reset", "-q", "--hard", c1)
    c3 = remote.commit("rewritten two")
    mirror.fetch()
    new_head = mirror.head("main")
    assert new_head == c3
    assert not mirror.is_ancestor(old_head, new_head)
    assert mirror.is_ancestor(c1, new_head)
    # the commits not reachable from the old head: just the rewritten one
    assert [c.sha for c in mirror.commits("main", since=old_head)] == [c3]
    assert mirror.count_commits("main", since=old_head) == 1


def test_unknown_since_gives_full_history_and_is_not_an_ancestor(remote, mirror):
    c1 = remote.commit("one")
    mirror.fetch()
    ghost = "0123456789abcdef0123456789abcdef01234567"
    assert [c.sha for c in mirror.commits("main", since=ghost)] == [c1]
    assert mirror.count_commits("main", since=ghost) == 1
    assert mirror.is_ancestor(ghost, c1) is False
    with pytest.raises(GitError):
        mirror.commits("no-such-branch")
    with pytest.raises(GitError):
        mirror.count_commits("no-such-branch")


def test_tags_lightweight_annotated_and_gto_names(remote, mirror):
    c1 = remote.commit("one")
    c2 = remote.commit("two")
    remote.git("tag", "v1.0.0", c1)
    remote.git("tag", "-a", "churn@v1.2.0", "-m", "Register churn 1.2.0\n\nWith notes.", c2, date=BASE + 5000)
    remote.git("tag", "-a", "churn#prod#3", "-m", "Promote to prod", c2, date=BASE + 6000)
    remote.git("tag", "-a", "nested", "-m", "a tag of a tag", "churn@v1.2.0", date=BASE + 7000)
    blob = remote.git("rev-parse", "HEAD:file1.txt")
    remote.git("tag", "blob-tag", blob)
    mirror.fetch()
    tags = {t.name: t for t in mirror.tags()}
    assert set(tags) == {"v1.0.0", "churn@v1.2.0", "churn#prod#3", "nested"}  # the blob tag is no release
    light = tags["v1.0.0"]
    assert (light.target_sha, light.annotated, light.tagger_name, light.tagged_at, light.message) == (
        c1,
        False,
        "",
        None,
        "",
    )
    gto = tags["churn@v1.2.0"]
    assert gto.annotated and gto.target_sha == c2  # peeled, not the tag object
    assert gto.target_sha != remote.git("rev-parse", "churn@v1.2.0")
    assert gto.tagger_name == "Dana Dev"
    assert gto.tagger_email == "dana@example.org"
    assert gto.tagged_at == datetime.fromtimestamp(BASE + 5000, UTC)
    assert gto.message == "Register churn 1.2.0\n\nWith notes."
    assert tags["churn#prod#3"].message == "Promote to prod"
    assert tags["churn#prod#3"].target_sha == c2
    assert tags["nested"].target_sha == c2


def test_a_moved_or_deleted_tag_follows_the_remote(remote, mirror):
    c1 = remote.commit("one")
    c2 = remote.commit("two")
    remote.git("tag", "v1", c1)
    remote.git("tag", "gone", c1)
    mirror.fetch()
    assert {t.name: t.target_sha for t in mirror.tags()} == {"v1": c1, "gone": c1}
    remote.git("tag", "-d", "v1")
    remote.git("tag", "-d", "gone")
    remote.git("tag", "v1", c2)
    mirror.fetch()
    assert {t.name: t.target_sha for t in mirror.tags()} == {"v1": c2}


def test_the_first_fetch_brings_every_branch_and_tag_packed_and_later_fetches_follow_the_remote(
    tmp_path, remote, mirror
):
    c1 = remote.commit("one")
    remote.git("branch", "side")
    remote.git("update-ref", "refs/pull/1/head", c1)  # a host's own refs are not mirrored
    for n in range(30):
        remote.tag(f"churn@v1.0.{n}", c1)
    mirror.fetch()

    assert mirror.head("main") == mirror.head("side") == c1
    assert len(mirror.tags()) == 30
    assert mirror._git("for-each-ref", "--format=%(refname)", "refs/pull").stdout == b""
    assert not list((mirror.path / "refs" / "tags").iterdir())  # all in packed-refs, none a file of its own
    assert mirror._git("config", "--get-all", "remote.origin.fetch").stdout.decode().split() == [
        "+refs/heads/*:refs/heads/*",
        "+refs/tags/*:refs/tags/*",
    ]
    assert sorted(path.name for path in mirror.path.parent.iterdir()) == ["remote.git"]  # no scratch clone left
    c2 = remote.commit("two")
    remote.git("tag", "-d", "churn@v1.0.0")
    remote.tag("churn@v2.0.0", c2)
    mirror.fetch()
    assert mirror.head("main") == c2
    assert {tag.name for tag in mirror.tags()} == {f"churn@v1.0.{n}" for n in range(1, 30)} | {"churn@v2.0.0"}


def test_a_failed_first_fetch_leaves_the_mirror_empty_and_nothing_behind(tmp_path):
    mirror = Mirror(tmp_path / "mirrors" / "m.git", "file:///nonexistent")
    mirror.ensure()
    with pytest.raises(GitError, match="git fetch from file:///nonexistent failed"):
        mirror.fetch(timeout=30)
    assert mirror.exists()
    assert mirror.branches() == []
    assert [path.name for path in (tmp_path / "mirrors").iterdir()] == ["m.git"]


def test_read_file_list_files_and_changed_files(remote, mirror):
    c1 = remote.commit(
        "layout",
        {
            "govportal.yaml": "models: []\n",
            "models/churn/MLmodel": "flavors: {}\n",
            "models/churn/README.md": "# Churn\n",
            "docs/notes.md": "notes\n",
            "big.bin": b"\x00" * 5000,
        },
    )
    c2 = remote.commit("edit", {"govportal.yaml": "models: [1]\n", "docs/notes.md": None, "dvc.yaml": "stages: {}\n"})
    mirror.fetch()
    assert mirror.read_file(c1, "govportal.yaml", 1000) == b"models: []\n"
    assert mirror.read_file(c2, "govportal.yaml", 1000) == b"models: [1]\n"
    assert mirror.read_file(c2, "docs/notes.md", 1000) is None  # deleted
    assert mirror.read_file(c1, "missing.yaml", 1000) is None
    assert mirror.read_file(c1, "models", 1000) is None  # a directory is no file
    assert mirror.read_file(c1, "big.bin", 5000) == b"\x00" * 5000
    with pytest.raises(FileTooLarge) as exc:
        mirror.read_file(c1, "big.bin", 4999)
    assert exc.value.size == 5000 and not exc.value.transient
    assert "big.bin" in str(exc.value) and "limit" in str(exc.value)
    with pytest.raises(GitError):
        mirror.read_file("0123456789abcdef0123456789abcdef01234567", "govportal.yaml", 1000)

    names = {"govportal.yaml", "MLmodel", "README.md", "artifacts.yaml", "dvc.yaml"}
    assert mirror.list_files(c1, names) == ["govportal.yaml", "models/churn/MLmodel", "models/churn/README.md"]
    assert mirror.list_files(c2, names) == [
        "dvc.yaml",
        "govportal.yaml",
        "models/churn/MLmodel",
        "models/churn/README.md",
    ]
    assert mirror.changed_files(c1, c2) == ["docs/notes.md", "dvc.yaml", "govportal.yaml"]
    assert mirror.changed_files(c2, c2) == []


def test_non_utf8_content_comes_back_as_bytes(remote, mirror):
    c1 = remote.commit("latin-1", {"README.md": "caf\xe9\n".encode("latin-1")})
    mirror.fetch()
    assert mirror.read_file(c1, "README.md", 100) == b"caf\xe9\n"


def test_an_unreachable_file_remote_is_a_permanent_readable_error(tmp_path):
    mirror = Mirror(tmp_path / "m.git", "file:///nonexistent")
    mirror.ensure()
    with pytest.raises(GitError) as exc:
        mirror.fetch(timeout=30)
    message = str(exc.value)
    assert "does not appear to be a git repository" in message
    assert "file:///nonexistent" in message
    assert exc.value.transient is False


def test_fetch_before_ensure_and_bad_urls(tmp_path):
    with pytest.raises(GitError, match="ensure"):
        Mirror(tmp_path / "m.git", "file:///x").fetch()
    for url in ("ext::sh -c touch% /tmp/pwned", "ftp://example.org/repo.git", "", "--upload-pack=evil"):
        with pytest.raises(GitError) as exc:
            Mirror(tmp_path / "bad.git", url).ensure()
        assert exc.value.transient is False
    with pytest.raises(GitError):
        Mirror(tmp_path / "x.git", "file:///x").head("--all")


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_transient_and_never_shows_the_credential(tmp_path):
    port = closed_port()
    mirror = Mirror(
        tmp_path / "m.git", f"https://127.0.0.1:{port}/org/repo.git", credential=TOKEN, allowed_hosts=("127.0.0.1",)
    )
    mirror.ensure()
    with pytest.raises(GitError) as exc:
        mirror.fetch(timeout=30)
    assert TOKEN not in str(exc.value)
    assert TOKEN not in repr(mirror)
    assert exc.value.transient is True
    assert f"127.0.0.1:{port}" in str(exc.value)
    # the secret is not in the repository config either
    assert TOKEN not in (tmp_path / "m.git" / "config").read_text()


def test_a_silent_server_times_out_as_transient(tmp_path):
    with socket.socket() as listener:  # accepts connections (backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/r.git"
        mirror = Mirror(tmp_path / "m.git", url, credential=TOKEN, allowed_hosts=("127.0.0.1",))
        mirror.ensure()
        with pytest.raises(GitError) as exc:
            mirror.fetch(timeout=1)
    assert "timed out" in str(exc.value)
    assert exc.value.transient is True
    assert TOKEN not in str(exc.value)


def test_credentials_in_the_url_are_scrubbed(tmp_path):
    port = closed_port()
    mirror = Mirror(tmp_path / "m.git", f"https://dana:{TOKEN}@127.0.0.1:{port}/org/repo.git")
    mirror.ensure()
    with pytest.raises(GitError) as exc:
        mirror.fetch(timeout=30)
    assert TOKEN not in str(exc.value)
    assert "dana" not in str(exc.value)


class RefusingHandler(BaseHTTPRequestHandler):
    seen: list

    def do_GET(self):
        type(self).seen.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_credential_reaches_the_server_through_askpass_and_bad_credentials_are_permanent(tmp_path):
    RefusingHandler.seen = []
    server = serve(RefusingHandler)
    try:
        port = server.server_address[1]
        mirror = Mirror(
            tmp_path / "m.git", f"http://127.0.0.1:{port}/org/repo.git", credential=TOKEN,
            allowed_hosts=(f"127.0.0.1:{port}",),
        )  # fmt: skip
        mirror.ensure()
        with pytest.raises(GitError) as exc:
            mirror.fetch(timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert expected in RefusingHandler.seen
    assert TOKEN not in str(exc.value)
    assert exc.value.transient is False
    assert "Authentication failed" in str(exc.value)
    assert not list(tmp_path.glob("**/askpass.sh"))


@pytest.mark.parametrize("allowed", [("github.com",), ("127.0.0.1:1",), ("127.0.0.10",)])
def test_askpass_never_hands_the_credential_to_a_host_it_was_not_granted_for(tmp_path, allowed):
    """The last line of defence: even if a URL slipped past the portal's checks, Git gets no secret for it."""
    RefusingHandler.seen = []
    server = serve(RefusingHandler)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/org/repo.git"
        mirror = Mirror(tmp_path / "m.git", url, credential=TOKEN, allowed_hosts=allowed)
        mirror.ensure()
        with pytest.raises(GitError) as exc:
            mirror.fetch(timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert RefusingHandler.seen  # Git did ask the server …
    assert set(RefusingHandler.seen) == {None}  # … and never sent it an Authorization header
    assert exc.value.transient is False
    assert TOKEN not in str(exc.value)


def test_a_credential_without_allowed_hosts_is_never_used(tmp_path):
    mirror = Mirror(tmp_path / "m.git", "https://github.com/acme/x.git", credential=TOKEN)
    mirror.ensure()
    with pytest.raises(GitError, match="without allowed hosts"):
        mirror.fetch(timeout=5)


def test_a_network_only_mirror_refuses_a_local_path(tmp_path, remote):
    remote.commit("one")
    mirror = Mirror(tmp_path / "m.git", remote.url, allow_local=False)
    mirror.ensure()
    with pytest.raises(GitError):
        mirror.fetch(timeout=30)
    assert mirror.branches() == []


def test_classification_and_redaction():
    assert classify("fatal: unable to access 'https://x/': Could not resolve host: x") is True
    assert classify("fatal: unable to access 'https://x/': The requested URL returned error: 503") is True
    assert classify("fatal: Authentication failed for 'https://x/'") is False
    assert classify("git@x: Permission denied (publickey).\nfatal: Could not read from remote repository.") is False
    assert classify("fatal: repository 'https://x/' not found") is False
    assert classify("something nobody has seen") is False
    assert redact(f"https://u:{TOKEN}@host/r and {TOKEN}", (TOKEN,)) == "https://***@host/r and ***"


def fast_import_history(path, n_commits, n_tags):
    """A bare repository with ``n_commits`` linear commits and ``n_tags`` lightweight tags, built in one go."""
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    chunks = []
    for i in range(1, n_commits + 1):
        message = f"commit {i}".encode()
        content = f"line {i}\n".encode()
        chunks.append(b"commit refs/heads/main\nmark :%d\n" % i)
        chunks.append(b"author A <a@example.org> %d +0000\n" % (BASE + i))
        chunks.append(b"committer A <a@example.org> %d +0000\n" % (BASE + i))
        chunks.append(b"data %d\n%s\n" % (len(message), message))
        if i > 1:
            chunks.append(b"from :%d\n" % (i - 1))
        chunks.append(b"M 644 inline file%d.txt\ndata %d\n%s\n" % (i % 50, len(content), content))
    step = max(1, n_commits // max(1, n_tags))
    for t in range(n_tags):
        chunks.append(b"reset refs/tags/model@v%d.0.0\nfrom :%d\n\n" % (t, min(n_commits, 1 + t * step)))
    subprocess.run(["git", "--git-dir", str(path), "fast-import", "--quiet"], input=b"".join(chunks), check=True)


def test_a_big_history_reads_in_one_call(tmp_path):
    fast_import_history(tmp_path / "big.git", 2000, 200)
    mirror = Mirror(tmp_path / "m.git", str(tmp_path / "big.git"))
    mirror.ensure()
    mirror.fetch()
    commits = mirror.commits("main", None)
    assert len(commits) == 2000
    assert commits[0].subject == "commit 1" and commits[-1].subject == "commit 2000"
    assert len(mirror.tags()) == 200
    assert [c.subject for c in mirror.commits("main", since=commits[1989].sha)] == [
        f"commit {i}" for i in range(1991, 2001)
    ]


def test_separators_and_control_characters_in_names_and_messages_are_read_as_written(remote, mirror):
    """Git output is split on NUL, which no field can hold: any other byte is data."""
    odd = "Eve\x1fMallory\x1e\t,\x01 Jr"
    env = {**os.environ, "GIT_AUTHOR_NAME": odd, "GIT_COMMITTER_NAME": odd}
    env |= {"GIT_AUTHOR_EMAIL": "e@x", "GIT_COMMITTER_EMAIL": "e@x"}
    (remote.path / "f.txt").write_text("f\n")
    remote.git("add", "-A")
    subprocess.run(["git", "commit", "-q", "-m", "sub\x1fject\n\nbody"], cwd=remote.path, check=True, env=env)
    sha = remote.git("rev-parse", "HEAD")
    message = "lead\x1f\x1e\n\ntext"
    subprocess.run(["git", "tag", "-a", "churn@v1.0.0", "-m", message], cwd=remote.path, check=True, env=env)
    mirror.fetch()

    [commit] = mirror.commits("main")
    assert (commit.sha, commit.author_name, commit.subject, commit.parents) == (sha, odd, "sub\x1fject", ())
    [tag] = mirror.tags()
    assert (tag.name, tag.tagger_name, tag.message, tag.target_sha) == ("churn@v1.0.0", odd, message, sha)
    assert mirror.commit_info([sha])[sha].author_name == odd


def test_hand_made_objects_with_broken_headers_still_read(remote, mirror):
    """A commit or tag written with `git hash-object --literally` (a NUL in the header, a date Git cannot read)."""
    base = remote.commit("base")
    tree = remote.git("rev-parse", "HEAD^{tree}")
    raw = f"tree {tree}\nparent {base}\nauthor Ev\0il <e@x> 99999999999999999999 +0000\n"
    raw += "committer C <c@x> x +0000\n\nodd\n"
    commit = _literal(remote, "commit", raw.encode())
    remote.git("update-ref", "refs/heads/main", commit)
    tag = _literal(remote, "tag", f"object {commit}\ntype commit\ntag t\ntagger T\0 <t@x> nope +0000\n\nm\n".encode())
    remote.git("update-ref", "refs/tags/t", tag)
    mirror.fetch()

    commits = mirror.commits("main")
    assert [c.sha for c in commits] == [base, commit]
    assert commits[1].committed_at == datetime(1970, 1, 1, tzinfo=UTC)
    [only] = mirror.tags()
    assert (only.name, only.target_sha, only.tagged_at) == ("t", commit, None)


def test_symbolic_links_are_told_apart_when_asked(remote, mirror):
    (remote.path / "cards").mkdir()
    (remote.path / "cards" / "real.md").write_text("# real\n")
    (remote.path / "cards" / "link.md").symlink_to("real.md")
    (remote.path / "top.yaml").symlink_to("cards/real.md")
    remote.commit("links")
    sha = remote.git("rev-parse", "HEAD")
    mirror.fetch()
    wanted = [(sha, "cards/real.md"), (sha, "cards/link.md"), (sha, "top.yaml"), (sha, "nope/x.md")]

    assert mirror.read_files(wanted, 1000)[(sha, "cards/link.md")] == b"real.md"  # Git's view: the link's text
    read = mirror.read_files(wanted, 1000, links=True)
    assert read == {
        (sha, "cards/real.md"): b"# real\n",
        (sha, "cards/link.md"): Symlink("cards/link.md"),
        (sha, "top.yaml"): Symlink("top.yaml"),
        (sha, "nope/x.md"): None,
    }


def test_reading_through_the_folders_trees_answers_as_asking_path_by_path(remote, mirror):
    (remote.path / "models" / "churn" / "deep").mkdir(parents=True)
    files = {"top.md": "top\n", "models/churn/MLmodel": "flavors: {}\n", "models/churn/README.md": "x" * 50,
             "models/churn/deep/card.md": "# deep\n", "models/other.md": "other\n"}  # fmt: skip
    first = remote.commit("files", files)
    (remote.path / "models" / "churn" / "link.md").symlink_to("README.md")
    second = remote.commit("a link and a change", {"models/churn/MLmodel": "flavors: {a: 1}\n"})
    mirror.fetch()
    paths = [*files, "models/churn/link.md", "models/churn", "models/churn/nope", "nope/x.md", "models//other.md",
             "models/churn/", "/top.md"]  # fmt: skip
    wanted = [(sha, path) for sha in (first, second) for path in paths]

    plain, through_trees = mirror.read_files(wanted, 20), mirror.read_files(wanted, 20, links=True)

    def seen(read):  # a FileTooLarge is an exception: compared by what it says
        return {key: str(value) if isinstance(value, FileTooLarge) else value for key, value in read.items()}

    links = {key for key, value in through_trees.items() if isinstance(value, Symlink)}
    assert links == {(second, "models/churn/link.md")}
    assert seen({key: value for key, value in through_trees.items() if key not in links}) == seen(
        {key: value for key, value in plain.items() if key not in links}
    )
    assert through_trees[(second, "models/churn/MLmodel")] == b"flavors: {a: 1}\n"
    assert through_trees[(first, "models/churn/README.md")].size == 50  # over the 20 bytes asked for
    assert through_trees[(first, "models/churn")] is None  # a folder is no file


def test_tags_on_trees_and_blobs_are_named_when_asked(remote, mirror):
    remote.commit("one")
    remote.git("tag", "on-blob", remote.git("rev-parse", "HEAD:file1.txt"))
    remote.git("tag", "-a", "on-tree", "-m", "tree", remote.git("rev-parse", "HEAD^{tree}"))
    remote.git("tag", "-a", "tag-of-tree-tag", "-m", "deep", "on-tree")
    subprocess.run([b"git", b"tag", b"\xff-bytes"], cwd=remote.path, check=True)  # not UTF-8: Git takes bytes
    mirror.fetch()
    skipped = []
    assert [t.name for t in mirror.tags(skipped=skipped)] == ["\\xff-bytes"]
    assert sorted(skipped) == [("on-blob", "blob"), ("on-tree", "tree"), ("tag-of-tree-tag", "tree")]


def _literal(remote, kind: str, raw: bytes) -> str:
    result = subprocess.run(
        ["git", "hash-object", "-t", kind, "-w", "--literally", "--stdin"], cwd=remote.path, input=raw,
        capture_output=True, check=True,
    )  # fmt: skip
    return result.stdout.decode().strip()
