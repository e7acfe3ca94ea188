#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the project as a `git format-patch` series against the pristine tree.

    make-patches.py [--top DIR] [--pristine TREE] [--out DIR] [--git DIR]
    make-patches.py --check [--prepared TREE] [...]

scripts/patches.conf lists the patches in order: each one's subject, the
project files it adds (overlay files, at their project paths) and the hook
patches of patches/series it applies, and its commit message.  Every overlay
file that scripts/prepare-tree.sh lays into the tree and every hook patch of
patches/series must be in exactly one patch; a file or hook left out, listed
twice or not existing is an error that names it.

The pristine tree (build/pristine-7.3, made by scripts/fetch-kernel.sh, never
modified) is committed once into build/patches-git as the base; each patch is
then built in a git index alone (overlay files hashed in, hook patches applied
with `git apply --cached`), so no tree is copied or written.  `git
format-patch --cover-letter` writes the series to build/patches/, and
checkpatch.pl --strict runs on each patch.

--check is the host/patches_series suite of `make check` (TAP): the series
is built, applied with `git am` to a fresh checkout of the pristine base (the
paths the series touches only, sparse), and the resulting tree must be
exactly the prepared overlay tree (build/linux-7.3: every file, its overlay
symlinks read as the files they point to, the .gmempv-pristine marker left
out); checkpatch must report nothing beyond scripts/patches-checkpatch.allow.
"""

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

AUTHOR_NAME = 'gmem-pv developers'
AUTHOR_EMAIL = 'gmem-pv@localhost'
FALLBACK_DATE = '2026-01-01T00:00:00+00:00'
MARKER = '.gmempv-pristine'


class Error(Exception):
    pass


def die(msg):
    raise Error(msg)


# ---- the project ------------------------------------------------------------

def overlay_map(top):
    """(project folder, tree folder) pairs and single-file links, read from
    scripts/prepare-tree.sh so that the two can never disagree."""
    path = os.path.join(top, 'scripts', 'prepare-tree.sh')
    try:
        text = open(path).read()
    except OSError as e:
        die('cannot read %s: %s' % (path, e))
    m = re.search(r'^map=\((.*?)^\)', text, re.S | re.M)
    if not m:
        die('cannot find the overlay map (map=(...)) in scripts/prepare-tree.sh')
    dirs = re.findall(r'"([^":]+):([^"]+)"', m.group(1))
    files = re.findall(r'^link_one "\$top/([^"]+)" "\$tree/([^"]+)"$', text, re.M)
    if not dirs or not files:
        die('cannot read the overlay map of scripts/prepare-tree.sh')
    return dirs, files


def overlay_files(top):
    """{project path: tree path} of every file prepare-tree.sh lays in."""
    dirs, files = overlay_map(top)
    out = {}
    for src, dst in dirs:
        base = os.path.join(top, src)
        for root, _, names in os.walk(base):
            for n in names:
                # prepare-tree.sh: find -type f ! -name '*.orig' ! -name '*.rej' ! -name '.*'
                if n.endswith('.orig') or n.endswith('.rej') or n.startswith('.'):
                    continue
                p = os.path.join(root, n)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                rel = os.path.relpath(p, base)
                out[os.path.relpath(p, top)] = os.path.normpath(os.path.join(dst, rel))
    for src, dst in files:
        out[src] = dst
    return out


def series(top):
    path = os.path.join(top, 'patches', 'series')
    names = []
    for line in open(path):
        line = line.split('#', 1)[0].strip()
        if line:
            names.append(line)
    return names


def hook_description(top, name):
    """The commit message body of a hook patch: what follows its headers up
    to the '---' line."""
    lines = open(os.path.join(top, 'patches', name)).read().split('\n')
    i = 0
    while i < len(lines) and re.match(r'^(From|Subject|Date|[A-Za-z-]+): ', lines[i]):
        i += 1
    body = []
    for line in lines[i:]:
        if line == '---' or line.startswith('--- a/') or line.startswith('diff '):
            break
        body.append(line)
    text = '\n'.join(body).strip('\n')
    if not text:
        die('patches/%s has no description to take the commit message from' % name)
    return text


# ---- scripts/patches.conf ---------------------------------------------------

class Entry:
    def __init__(self, subject, line):
        self.subject = subject
        self.line = line
        self.files = []
        self.hooks = []
        self.body = []          # paragraphs, in order


KEYS = ('cover', 'patch', 'files', 'hooks', 'body', 'body-from')


def parse_conf(path):
    """(cover subject, cover text, [Entry])."""
    try:
        lines = open(path).read().split('\n')
    except OSError as e:
        die('cannot read %s: %s' % (path, e))
    fields = []         # [key, value lines, line number]
    for n, line in enumerate(lines, 1):
        if line.startswith('#'):
            continue
        m = re.match(r"^([a-z-]+):(?:[ \t]+(.*))?$", line)
        if m:
            if m.group(1) not in KEYS:
                die('%s:%d: unknown key %r' % (path, n, m.group(1)))
            fields.append([m.group(1), [m.group(2)] if m.group(2) else [], n])
        elif line.startswith('\t') or not line.strip():
            if not fields:
                if line.strip():
                    die('%s:%d: text before the first key' % (path, n))
                continue
            fields[-1][1].append(line[1:] if line.startswith('\t') else '')
        else:
            die('%s:%d: not "key: value" nor a tab-indented continuation' % (path, n))

    cover_subject, cover_text, entries = None, '', []
    for key, value, n in fields:
        text = '\n'.join(value).strip('\n')
        if key == 'cover':
            if cover_subject is not None or entries:
                die('%s:%d: one cover, before the first patch' % (path, n))
            cover_subject = value[0] if value else ''
            cover_text = '\n'.join(value[1:]).strip('\n')
            if not cover_subject or not cover_text:
                die('%s:%d: the cover needs a subject and a text' % (path, n))
            continue
        if key == 'patch':
            if not text or '\n' in text:
                die('%s:%d: a patch needs a one-line subject' % (path, n))
            entries.append(Entry(text, n))
            continue
        if not entries:
            die('%s:%d: %s: before the first patch:' % (path, n, key))
        e = entries[-1]
        if key == 'files':
            e.files += text.split()
        elif key == 'hooks':
            e.hooks += text.split()
        elif key == 'body':
            if not text:
                die('%s:%d: empty body' % (path, n))
            e.body.append(('text', text))
        elif key == 'body-from':
            if len(text.split()) != 1:
                die('%s:%d: body-from takes one hook patch' % (path, n))
            e.body.append(('from', text))
    if cover_subject is None:
        die('%s: no cover:' % path)
    if not entries:
        die('%s: no patch:' % path)
    return cover_subject, cover_text, entries


def validate(top, conf, entries, overlay, hooks):
    """Every overlay file and hook patch in exactly one patch; nothing else."""
    errors = []
    where = {}
    for i, e in enumerate(entries, 1):
        if not e.body:
            errors.append('%s:%d: patch %d (%s) has no commit message body'
                          % (conf, e.line, i, e.subject))
        for kind, items in (('file', e.files), ('hook', e.hooks)):
            for x in items:
                if x in where:
                    errors.append('%s %s is in patch %d (%s) and in patch %d (%s)'
                                  % (kind, x, where[x][0], entries[where[x][0] - 1].subject,
                                     i, e.subject))
                else:
                    where[x] = (i, kind)
        for x in e.files:
            if x not in overlay:
                errors.append('%s:%d: %s is not a file prepare-tree.sh lays into the tree'
                              % (conf, e.line, x))
        for x in e.hooks:
            if x not in hooks:
                errors.append('%s:%d: %s is not in patches/series' % (conf, e.line, x))
        for kind, x in e.body:
            if kind == 'from' and x not in hooks:
                errors.append('%s:%d: body-from %s is not in patches/series' % (conf, e.line, x))
    for f in sorted(overlay):
        if f not in where:
            errors.append('file %s is in no patch of %s' % (f, conf))
    for h in hooks:
        if h not in where:
            errors.append('hook patch %s is in no patch of %s' % (h, conf))
    if errors:
        die('\n'.join(errors))


# ---- git --------------------------------------------------------------------

class Git:
    def __init__(self, gitdir, date):
        self.gitdir = gitdir
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith('GIT_'):
                del self.env[k]
        self.env.update({
            'GIT_DIR': gitdir,
            'GIT_CONFIG_NOSYSTEM': '1',
            'GIT_CONFIG_GLOBAL': os.devnull,
            'GIT_AUTHOR_NAME': AUTHOR_NAME, 'GIT_AUTHOR_EMAIL': AUTHOR_EMAIL,
            'GIT_COMMITTER_NAME': AUTHOR_NAME, 'GIT_COMMITTER_EMAIL': AUTHOR_EMAIL,
            'GIT_AUTHOR_DATE': date, 'GIT_COMMITTER_DATE': date,
            'LC_ALL': 'C',
        })

    def run(self, *args, index=None, worktree=None, cwd=None, input=None, check=True):
        env = dict(self.env)
        if index:
            env['GIT_INDEX_FILE'] = index
        if worktree:
            env['GIT_WORK_TREE'] = worktree
        p = subprocess.run(['git', '-c', 'core.looseCompression=1', '-c', 'core.quotePath=false']
                           + list(args), env=env, cwd=cwd or self.gitdir, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if check and p.returncode:
            die('git %s failed:\n%s%s' % (' '.join(args), p.stdout, p.stderr))
        return p

    def out(self, *args, **kw):
        return self.run(*args, **kw).stdout.strip()


def index_tree(git, tree, index, exclude=(MARKER,)):
    """Hash TREE (every file, ignored ones too) into INDEX; return the git
    tree.  The index keeps stat data, so a second run hashes only what
    changed."""
    specs = ['.'] + [':(exclude)' + x for x in exclude]
    git.run('add', '-A', '-f', '--', *specs, index=index, worktree=tree, cwd=tree)
    return git.out('write-tree', index=index)


def project_date(top):
    p = subprocess.run(['git', '-C', top, 'log', '-1', '--format=%cI'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       universal_newlines=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else FALLBACK_DATE


def make_base(git, pristine):
    """The pristine tree as the commit refs/tags/base; reused while the tree
    is unchanged."""
    marker = os.path.join(pristine, MARKER)
    if not os.path.isfile(marker):
        die('%s is not a tree made by scripts/fetch-kernel.sh (no %s)' % (pristine, MARKER))
    version = open(marker).read().strip()
    tree = index_tree(git, pristine, os.path.join(git.gitdir, 'pristine.index'))
    old = git.run('rev-parse', '-q', '--verify', 'refs/tags/base^{commit}', check=False).stdout.strip()
    if old and git.out('rev-parse', old + '^{tree}') == tree:
        return old, version
    msg = ('Linux %s\n\nThe pristine tree as scripts/fetch-kernel.sh unpacked it.\n' % version)
    commit = git.out('commit-tree', tree, '-m', msg)
    git.run('update-ref', 'refs/tags/base', commit)
    return commit, version


def message(top, e):
    paras = []
    for kind, x in e.body:
        paras.append(hook_description(top, x) if kind == 'from' else x)
    return '%s\n\n%s\n\nSigned-off-by: %s <%s>\n' % (e.subject, '\n\n'.join(paras),
                                                    AUTHOR_NAME, AUTHOR_EMAIL)


def build_series(git, top, base, entries, overlay):
    index = os.path.join(git.gitdir, 'series.index')
    if os.path.exists(index):
        os.unlink(index)
    git.run('read-tree', base, index=index)
    parent = base
    for i, e in enumerate(entries, 1):
        info = []
        for f in e.files:
            src = os.path.join(top, f)
            blob = git.out('hash-object', '-w', '--no-filters', src)
            mode = '100755' if os.access(src, os.X_OK) else '100644'
            info.append('%s %s\t%s\n' % (mode, blob, overlay[f]))
        if info:
            git.run('update-index', '--add', '--index-info', index=index, input=''.join(info))
        for h in e.hooks:
            p = git.run('apply', '--cached', '-p1', os.path.join(top, 'patches', h),
                        index=index, check=False)
            if p.returncode:
                die('hook patch %s (patch %d, %s) does not apply with git apply:\n%s'
                    % (h, i, e.subject, p.stderr))
        tree = git.out('write-tree', index=index)
        if tree == git.out('rev-parse', parent + '^{tree}'):
            die('patch %d (%s) changes nothing' % (i, e.subject))
        parent = git.out('commit-tree', tree, '-p', parent, input=message(top, e))
    git.run('update-ref', 'refs/heads/series', parent)
    return parent


def uapi_names(top):
    """The names include/uapi/linux/kvm_gmem_pv*.h define, for the cover."""
    out = []
    d = os.path.join(top, 'include', 'uapi', 'linux')
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if not fnmatch.fnmatch(n, 'kvm_gmem_pv*.h'):
            continue
        names = []
        for line in open(os.path.join(d, n)):
            m = re.match(r'^#define\s+([A-Z][A-Z0-9_]+)\b(?!\s*$)', line) or \
                re.match(r'^struct\s+([a-z0-9_]+)\s*\{', line)
            if m and not m.group(1).startswith('_UAPI'):
                names.append(('struct ' if line.startswith('struct') else '') + m.group(1))
        out.append((n, names))
    return out


def wrap(words, width=72, indent='  '):
    lines, cur = [], indent
    for w in words:
        if len(cur) + len(w) + 2 > width and cur.strip():
            lines.append(cur.rstrip())
            cur = indent
        cur += w + ', '
    if cur.strip():
        lines.append(cur.rstrip().rstrip(','))
    return lines


def cover_blurb(top, cover_text, version, results):
    parts = [cover_text, '']
    parts.append('ABI, as include/uapi/ defines it (see the documentation patches):')
    for n, names in uapi_names(top):
        parts.append('')
        parts.append('include/uapi/linux/%s:' % n)
        parts += wrap(names)
    parts.append('')
    parts.append('Base: the Linux %s tree of the pinned linux-source .deb, as' % version)
    parts.append('scripts/fetch-kernel.sh unpacks it, committed as is; `git am` applies')
    parts.append('the series to it.')
    parts.append('')
    parts.append('Results of the last `make check` of this tree (build/check/summary.txt):')
    parts.append('')
    if results:
        parts.append('  (written %s; the series was made at %s)' % (results[0], project_rev(top)))
        parts.append('')
        results = results[1:]
        parts += ['  ' + l if l else '' for l in results]
    else:
        parts.append('  none: this tree has no make check results yet.')
    return '\n'.join(parts).rstrip() + '\n'


def read_results(top):
    """The table `make check` printed last (build/check/summary.txt)."""
    path = os.path.join(top, 'build', 'check', 'summary.txt')
    try:
        lines = [l.rstrip() for l in open(path)]
    except OSError:
        return None
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        return None
    when = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(os.path.getmtime(path)))
    return [when] + lines


def project_rev(top):
    p = subprocess.run(['git', '-C', top, 'describe', '--always', '--dirty'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       universal_newlines=True)
    return 'commit ' + p.stdout.strip() if p.returncode == 0 else 'an unknown commit'


def format_series(git, base, head, out, cover_subject, blurb):
    os.makedirs(out, exist_ok=True)
    for n in os.listdir(out):
        if n.endswith('.patch'):
            os.unlink(os.path.join(out, n))
    git.run('format-patch', '-q', '--cover-letter', '--no-signature', '--thread=shallow',
            '-o', out, '%s..%s' % (base, head))
    names = sorted(n for n in os.listdir(out) if n.endswith('.patch'))
    cover = os.path.join(out, names[0])
    text = open(cover).read()
    if '*** SUBJECT HERE ***' not in text or '*** BLURB HERE ***' not in text:
        die('git format-patch wrote an unexpected cover letter template')
    text = text.replace('*** SUBJECT HERE ***', cover_subject)
    text = text.replace('*** BLURB HERE ***', blurb.rstrip('\n'))
    with open(cover, 'w') as f:
        f.write(text)
    return [os.path.join(out, n) for n in names[1:]]


# ---- checkpatch ---------------------------------------------------------------

def checkpatch(pristine, patches):
    """[(patch file name, 'TYPE:NAME', message)] of checkpatch --strict."""
    script = os.path.join(pristine, 'scripts', 'checkpatch.pl')
    issues = []
    for p in patches:
        r = subprocess.run(['perl', script, '--strict', '--no-tree', '--terse', '--show-types',
                            '--no-summary', '--color=never', p],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        for line in r.stdout.splitlines():
            m = re.match(r'^[^:]*:\d+: (ERROR|WARNING|CHECK):([A-Z_]+): (.*)$', line)
            if m:
                issues.append((os.path.basename(p), m.group(1) + ':' + m.group(2), m.group(3)))
            elif line.strip():
                issues.append((os.path.basename(p), 'OUTPUT', line))
        if r.returncode and not any(i[0] == os.path.basename(p) for i in issues):
            issues.append((os.path.basename(p), 'FAILED', 'checkpatch.pl exited %d' % r.returncode))
    return issues


def read_allow(path):
    """Lines 'TYPE:NAME  SUBJECT-GLOB  # why'; the why is required."""
    allow = []
    if not os.path.exists(path):
        return allow
    for n, line in enumerate(open(path), 1):
        if not line.strip() or line.startswith('#'):
            continue
        m = re.match(r'^(\S+)\s+(\S+)\s+#\s*(\S.*)$', line)
        if not m:
            die('%s:%d: want "TYPE:NAME PATCH-GLOB # why"' % (path, n))
        allow.append((m.group(1), m.group(2)))
    return allow


def unexplained(issues, allow):
    def ok(i):
        name = re.sub(r'^\d{4}-', '', i[0])
        return any(i[1] == t and fnmatch.fnmatchcase(name, g) for t, g in allow)
    return [i for i in issues if not ok(i)]


# ---- main -------------------------------------------------------------------

def generate(a):
    conf = os.path.join(a.top, 'scripts', 'patches.conf')
    cover_subject, cover_text, entries = parse_conf(conf)
    overlay = overlay_files(a.top)
    hooks = series(a.top)
    validate(a.top, os.path.relpath(conf, a.top), entries, overlay, hooks)
    os.makedirs(a.git, exist_ok=True)
    git = Git(a.git, project_date(a.top))
    if not os.path.exists(os.path.join(a.git, 'HEAD')):
        git.run('init', '-q', '--bare', '.')
    base, version = make_base(git, a.pristine)
    head = build_series(git, a.top, base, entries, overlay)
    blurb = cover_blurb(a.top, cover_text, version, read_results(a.top))
    patches = format_series(git, base, head, a.out, cover_subject, blurb)
    return git, base, head, patches


def prepared_tree(git, prepared, top):
    """The git tree of the prepared overlay tree, symlinks into the project
    read as the files they point to."""
    index = os.path.join(git.gitdir, 'prepared.index')
    index_tree(git, prepared, index)
    links = git.out('ls-files', '-s', index=index)
    info = []
    ours = {os.path.realpath(os.path.join(top, f)) for f in overlay_files(top)}
    for line in links.splitlines():
        meta, path = line.split('\t', 1)
        if not meta.startswith('120000 '):
            continue
        real = os.path.realpath(os.path.join(prepared, path))
        if real not in ours:
            continue            # a symlink of the kernel's own
        blob = git.out('hash-object', '-w', '--no-filters', real)
        mode = '100755' if os.access(real, os.X_OK) else '100644'
        info.append('%s %s\t%s\n' % (mode, blob, path))
    if info:
        git.run('update-index', '--index-info', index=index, input=''.join(info))
    return git.out('write-tree', index=index)


def check(a):
    """TAP: the series builds, applies with git am, equals the prepared tree,
    and checkpatch is clean beyond the allow-list."""
    results = []

    def case(name, ok, lines=()):
        results.append((name, ok, list(lines)))
        n = len(results)
        print('%s %d %s' % ('ok' if ok else 'not ok', n, name))
        for l in lines:
            print('# ' + l)
        sys.stdout.flush()

    print('TAP version 13')
    print('1..4', flush=True)
    try:
        git, base, head, patches = generate(a)
    except Error as e:
        case('series_built', False, str(e).splitlines())
        for n in ('git_am_applies', 'tree_matches_overlay', 'checkpatch_strict'):
            case(n, False, ['not run: the series was not built'])
        return 1
    case('series_built', True, ['%d patches and a cover letter in %s' % (len(patches), a.out)])

    am = tempfile.mkdtemp(prefix='am.', dir=os.path.dirname(a.git.rstrip('/')))
    try:
        ok, lines = git_am(git, base, patches, am)
        case('git_am_applies', ok, lines)
        if ok:
            amgit = Git(os.path.join(am, '.git'), git.env['GIT_AUTHOR_DATE'])
            got = amgit.out('rev-parse', 'HEAD^{tree}')
            want = prepared_tree(git, a.prepared, a.top)
            diff = git.out('diff-tree', '-r', '--no-renames', '--name-status', want, got)
            if diff:
                lines = ['git am of the series gives a tree other than %s:' % a.prepared,
                         '(A: only in the series, D: only in the prepared tree, M: differs)']
                case('tree_matches_overlay', False, lines + diff.splitlines())
            else:
                case('tree_matches_overlay', True,
                     ['git am result == %s, every file (tree %s)' % (a.prepared, got[:12])])
        else:
            case('tree_matches_overlay', False, ['not run: git am failed'])
    except Error as e:
        for n in ('git_am_applies', 'tree_matches_overlay')[len(results) - 1:]:
            case(n, False, str(e).splitlines())
    finally:
        shutil.rmtree(am, ignore_errors=True)

    try:
        issues = checkpatch(a.pristine, patches)
        allow = read_allow(os.path.join(a.top, 'scripts', 'patches-checkpatch.allow'))
        bad = unexplained(issues, allow)
        lines = ['%d checkpatch --strict reports, %d of them on the allow-list'
                 % (len(issues), len(issues) - len(bad))]
        lines += ['%s: %s: %s' % i for i in bad]
        case('checkpatch_strict', not bad, lines)
    except Error as e:
        case('checkpatch_strict', False, str(e).splitlines())
    return 0 if all(r[1] for r in results) else 1


def git_am(git, base, patches, am):
    """Apply PATCHES with git am to a sparse checkout of BASE in AM."""
    amgit = os.path.join(am, '.git')
    g = Git(amgit, git.env['GIT_AUTHOR_DATE'])
    g.run('init', '-q', am, cwd=am)
    with open(os.path.join(amgit, 'objects', 'info', 'alternates'), 'w') as f:
        f.write(os.path.join(os.path.abspath(git.gitdir), 'objects') + '\n')
    # Only the paths the patches name are checked out: the rest of the tree
    # is the base commit's, unchanged.
    paths = set()
    for p in patches:
        for line in open(p, errors='replace'):
            m = re.match(r'^diff --git a/(\S+) b/(\S+)$', line)
            if m:
                paths.update(m.groups())
    g.run('config', 'core.sparseCheckout', 'true', cwd=am)
    with open(os.path.join(amgit, 'info', 'sparse-checkout'), 'w') as f:
        f.write(''.join('/%s\n' % x for x in sorted(paths)))
    g.run('update-ref', 'refs/heads/master', base, cwd=am)
    g.run('symbolic-ref', 'HEAD', 'refs/heads/master', cwd=am)
    g.run('read-tree', '-mu', 'HEAD', worktree=am, cwd=am)
    r = g.run('am', '-q', '--no-3way', *patches, worktree=am, cwd=am, check=False)
    if r.returncode:
        return False, ('git am failed:\n' + r.stdout + r.stderr).splitlines()
    n = g.out('rev-list', '--count', 'HEAD', '^' + base, cwd=am)
    return True, ['%s patches applied to a checkout of the base (%d paths)' % (n, len(paths))]


def main(argv):
    top = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--top', default=top)
    ap.add_argument('--pristine')
    ap.add_argument('--prepared')
    ap.add_argument('--out')
    ap.add_argument('--git')
    ap.add_argument('--check', action='store_true')
    a = ap.parse_args(argv[1:])
    a.top = os.path.abspath(a.top)
    b = os.path.join(a.top, 'build')
    a.pristine = os.path.abspath(a.pristine or os.path.join(b, 'pristine-7.3'))
    a.prepared = os.path.abspath(a.prepared or os.path.join(b, 'linux-7.3'))
    a.out = os.path.abspath(a.out or os.path.join(b, 'patches'))
    a.git = os.path.abspath(a.git or os.path.join(b, 'patches-git'))
    try:
        if a.check:
            return check(a)
        _, _, _, patches = generate(a)
        print('  PATCHES %d patches and a cover letter in %s' % (len(patches), a.out))
        issues = checkpatch(a.pristine, patches)
        allow = read_allow(os.path.join(a.top, 'scripts', 'patches-checkpatch.allow'))
        bad = unexplained(issues, allow)
        print('  PATCHES checkpatch --strict: %d reports, %d not on the allow-list'
              % (len(issues), len(bad)))
        for i in bad:
            print('    %s: %s: %s' % i)
        return 0
    except Error as e:
        for line in str(e).splitlines():
            print('make-patches: error: ' + line, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
