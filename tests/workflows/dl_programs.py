"""The programs of the Descartes Labs corpus, written once for any module with the client's API.

``scripts/gen_dl_corpus.py`` runs them with the real client (``descarteslabs.workflows``, Python 3.9) to write
``dl_corpus.json``; ``test_dl_corpus.py`` runs them with ``asyncwf.workflows`` to check that asyncwf's proxies
write the same builtin names and argument shapes as the real client, program by program. Python 3.9 syntax.
"""

import datetime as dt
import functools
import math


def programs(wf, case):
    """Call ``case(name, obj, expected, **arguments)`` for every program, ``wf`` being the workflows module."""
    INTS = [(7, 3), (-7, 3), (0, 5), (12, -5), (2**40, 3), (1, 1)]
    FLOATS = [(7.5, 2.0), (-1.25, 0.5), (3.0, 7.0), (1e10, 3.0)]
    ARITH = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "truediv": lambda a, b: a / b,
        "floordiv": lambda a, b: a // b,
        "mod": lambda a, b: a % b,
    }
    COMPARE = {
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
    }
    for a, b in INTS:
        for op, fn in ARITH.items():
            case(f"int {op} {a} {b}", fn(wf.Int(a), wf.Int(b)), fn(a, b))
            case(f"int {op} literal {a} {b}", fn(wf.Int(a), b), fn(a, b))
        for op, fn in COMPARE.items():
            case(f"int {op} {a} {b}", fn(wf.Int(a), wf.Int(b)), fn(a, b))
        case(f"int pow {a}", wf.Int(a) ** 2, a**2)
        case(f"int neg abs {a}", abs(-wf.Int(a)), abs(-a))
        case(f"int bitwise {a} {b}", (wf.Int(a) & b) | (wf.Int(a) ^ b), (a & b) | (a ^ b))
        case(f"int shifts {a}", (wf.Int(a) << 2) >> 1, (a << 2) >> 1)
        case(f"int invert {a}", ~wf.Int(a), ~a)
        case(f"mixed {a} {b}", wf.Int(a) + wf.Float(float(b)) * 2, a + float(b) * 2)
    for a, b in FLOATS:
        for op, fn in ARITH.items():
            case(f"float {op} {a} {b}", fn(wf.Float(a), wf.Float(b)), fn(a, b))
        for op, fn in COMPARE.items():
            case(f"float {op} {a} {b}", fn(wf.Float(a), wf.Float(b)), fn(a, b))
        case(f"float pow {a}", wf.Float(a) ** 2, a**2)
        case(f"float cast {a}", wf.Int(wf.Float(a)), int(a))
    for x in [0.5, 2.0, 10.0]:
        case(f"math sqrt {x}", wf.sqrt(wf.Float(x)), math.sqrt(x))
        case(f"math log {x}", wf.log(wf.Float(x)) + wf.log10(wf.Float(x)), math.log(x) + math.log10(x))
        case(
            f"math trig {x}",
            wf.sin(wf.Float(x)) * wf.cos(wf.Float(x)) + wf.tan(wf.Float(x)),
            math.sin(x) * math.cos(x) + math.tan(x),
        )
        case(f"math exp {x}", wf.exp(wf.Float(x)), math.exp(x))
    for x, y in [(True, False), (True, True), (False, False)]:
        case(f"bool logic {x} {y}", (wf.Bool(x) & y) | (~wf.Bool(y) ^ x), (x and y) or ((not y) != x))

    WORDS = ["hello world", "  padded  ", "a,b,,c", "MiXeD case", "", "ünïcödé"]
    for s in WORDS:
        S = wf.Str(s)
        case(f"str upper {s!r}", S.upper(), s.upper())
        case(f"str lower {s!r}", S.lower(), s.lower())
        case(f"str strip {s!r}", S.strip(), s.strip())
        case(f"str split {s!r}", S.split(","), s.split(","))
        case(f"str split default {s!r}", S.split(), s.split())
        case(f"str replace {s!r}", S.replace("a", "xy"), s.replace("a", "xy"))
        case(f"str length {s!r}", S.length(), len(s))
        case(f"str contains {s!r}", S.contains("a"), "a" in s)
        case(f"str concat {s!r}", S + "!" + S, s + "!" + s)
        case(f"str repeat {s!r}", S * 2, s * 2)
        case(f"str slice {s!r}", S[1:4], s[1:4])
        case(f"str startswith {s!r}", S.startswith("he"), s.startswith("he"))
        case(f"str zfill {s!r}", S.zfill(12), s.zfill(12))
    case("str join", wf.Str("-").join(wf.List[wf.Str](["a", "b", "c"])), "-".join(["a", "b", "c"]))
    case("str format", wf.Str("{} and {}").format(wf.Int(1), wf.Str("two")), "{} and {}".format(1, "two"))
    case("str index", wf.Str("abc")[-1], "abc"[-1])
    case("str split maxsplit", wf.Str("a b c d").split(" ", 2), "a b c d".split(" ", 2))

    LISTS = [[3, 1, 2], [5], [4, 4, 1, 9, 0], list(range(10))]
    for xs in LISTS:
        L = wf.List[wf.Int](xs)
        case(f"list map {xs}", L.map(lambda x: x * 2 + 1), [x * 2 + 1 for x in xs])
        case(f"list filter {xs}", L.filter(lambda x: x > 2), [x for x in xs if x > 2])
        case(f"list reduce {xs}", L.reduce(lambda a, b: a + b), functools.reduce(lambda a, b: a + b, xs))
        case(
            f"list reduce initial {xs}",
            L.reduce(lambda a, b: a * b, initial=wf.Int(2)),
            functools.reduce(lambda a, b: a * b, xs, 2),
        )
        case(f"list sorted {xs}", L.sorted(), sorted(xs))
        case(f"list sorted reverse {xs}", L.sorted(reverse=True), sorted(xs, reverse=True))
        case(f"list sorted key {xs}", L.sorted(key=lambda x: x % 3), sorted(xs, key=lambda x: x % 3))
        case(
            f"list sorted key reverse {xs}",
            L.sorted(key=lambda x: x % 3, reverse=True),
            sorted(xs, key=lambda x: x % 3, reverse=True),
        )
        case(f"list index {xs}", L[0] + L[-1], xs[0] + xs[-1])
        case(f"list slice {xs}", L[1:], xs[1:])
        case(f"list step slice {xs}", L[::2], xs[::2])
        case(f"list length {xs}", L.length(), len(xs))
        case(f"list contains {xs}", L.contains(4), 4 in xs)
        case(f"list concat {xs}", L + L, xs + xs)
        case(f"list repeat {xs}", L * 2, xs * 2)
        case(
            f"list nested map {xs}",
            L.map(lambda x: wf.List[wf.Int]([x, x]).map(lambda y: y + x)),
            [[x + x, x + x] for x in xs],
        )
    case("list of str", wf.List[wf.Str](["b", "a"]).sorted(), ["a", "b"])
    case("list of floats", wf.List[wf.Float]([1.5, 2.5]).map(lambda x: x / 2), [0.75, 1.25])
    case("list of lists", wf.List[wf.List[wf.Int]]([[1], [2, 3]]).map(lambda inner: inner.length()), [1, 2])
    case("tuple", wf.Tuple[wf.Int, wf.Str]((1, "a")), (1, "a"))
    case("tuple index", wf.Tuple[wf.Int, wf.Str]((1, "a"))[1], "a")
    case("range", wf.range(5), list(range(5)))
    case("range step", wf.range(2, 10, 3), list(range(2, 10, 3)))
    case("zip", wf.zip(wf.List[wf.Int]([1, 2]), wf.List[wf.Str](["a", "b"])), [(1, "a"), (2, "b")])

    DICTS = [{"a": 1, "b": 2}, {"x": 10}, {"k1": 5, "k2": 6, "k3": 7}]
    for d in DICTS:
        D = wf.Dict[wf.Str, wf.Int](d)
        first = sorted(d)[0]
        case(f"dict get {d}", D[first], d[first])
        case(f"dict get default {d}", D.get("missing", 99), d.get("missing", 99))
        case(f"dict keys {d}", D.keys(), list(d.keys()))
        case(f"dict values {d}", D.values(), list(d.values()))
        case(f"dict items {d}", D.items(), list(d.items()))
        case(f"dict contains {d}", D.contains(first), first in d)
        case(f"dict length {d}", D.length(), len(d))
    case("dict int keys", wf.Dict[wf.Int, wf.Str]({1: "a", 2: "b"}), {1: "a", 2: "b"})
    case("dict int keys get", wf.Dict[wf.Int, wf.Str]({1: "a", 2: "b"})[2], "b")
    case("dict from pairs", wf.Dict[wf.Str, wf.Int].from_pairs(wf.List[wf.Tuple[wf.Str, wf.Int]]([("a", 1)])), {"a": 1})

    for n in [0, 1, 5, 12]:
        f = wf.Function.from_callable(lambda a, b: a * b + 1, wf.Int, wf.Int)
        case(f"function call {n}", f(wf.Int(n), wf.Int(3)), n * 3 + 1)
        outer = wf.Int(n) * 2
        g = wf.Function.from_callable(lambda a: a + outer, wf.Int)
        case(f"closure {n}", g(wf.Int(1)), 1 + n * 2)
        case(f"ifelse {n}", wf.ifelse(wf.Int(n) > 3, wf.Str("big"), wf.Str("small")), "big" if n > 3 else "small")
        case(f"function in map {n}", wf.List[wf.Int]([1, 2]).map(g), [1 + n * 2, 2 + n * 2])

    for value in [0, 4, -3, 100]:
        x = wf.parameter("x", wf.Int)
        case(f"parameter {value}", x * x + 1, value * value + 1, x=value)
        y = wf.parameter("y", wf.Float)
        case(f"parameters {value}", x + y, value + 0.5, x=value, y=0.5)
        s = wf.parameter("s", wf.Str)
        case(f"str parameter {value}", s + "!", f"v{value}!", s=f"v{value}")
        lst = wf.parameter("lst", wf.List[wf.Int])
        case(f"list parameter {value}", lst.map(lambda v: v + value), [1 + value, 2 + value], lst=[1, 2])

    UTC = dt.timezone.utc
    for when in [dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC), dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)]:
        D = wf.Datetime(when.year, when.month, when.day, when.hour, when.minute, when.second)
        case(f"datetime {when}", D, when)
        case(
            f"datetime fields {when}",
            D.year * 10000 + D.month * 100 + D.day,
            when.year * 10000 + when.month * 100 + when.day,
        )
        case(f"datetime plus {when}", D + wf.Timedelta(days=1, hours=2), when + dt.timedelta(days=1, hours=2))
        case(f"datetime minus {when}", D - wf.Timedelta(minutes=30), when - dt.timedelta(minutes=30))
        case(f"datetime compare {when}", wf.Datetime(2000) < D, dt.datetime(2000, 1, 1, tzinfo=UTC) < when)
        case(f"datetime from string {when}", wf.Datetime.from_string(when.isoformat()).hour, when.hour)
    case("timedelta", wf.Timedelta(days=1, seconds=30), dt.timedelta(days=1, seconds=30))
    case("timedelta total seconds", wf.Timedelta(hours=2).total_seconds(), 7200.0)
    case("datetime difference", wf.Datetime(2020, 3, 1) - wf.Datetime(2020, 2, 1), dt.timedelta(days=29))

    for n in [3, 6]:
        squares = wf.range(n).map(lambda i: i * i)
        case(f"composition sum {n}", squares.reduce(lambda a, b: a + b), sum(i * i for i in range(n)))
        case(
            f"composition filter {n}",
            squares.filter(lambda v: v % 2 == 0).length(),
            len([i for i in range(n) if (i * i) % 2 == 0]),
        )
        words = wf.List[wf.Str](["a", "bb", "ccc"][: n // 2])
        case(
            f"composition strings {n}",
            words.map(lambda w: w.upper() + "!").sorted(reverse=True),
            sorted([w.upper() + "!" for w in ["a", "bb", "ccc"][: n // 2]], reverse=True),
        )
        pairs = wf.zip(wf.range(n), wf.range(n).map(lambda i: i * 10))
        case(f"composition zip {n}", pairs.map(lambda p: p[0] + p[1]), [i + i * 10 for i in range(n)])
