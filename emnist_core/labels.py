"""The EMNIST ByMerge label set: one home for the 47 classes and what they mean.

ByMerge = ByClass (62 classes: 0-9, A-Z, a-z) with the 15 lowercase letters whose shape equals
their capital (c i j k l m o p s u v w x y z) merged into that capital.
"""

import string

# ByMerge class index -> character, in the order of the official emnist-bymerge-mapping.txt.
BYMERGE_CHARS = string.digits + string.ascii_uppercase + "abdefghnqrt"
NUM_CLASSES = len(BYMERGE_CHARS)  # 47
NUM_DIGITS = 10  # classes 0..9 are the digits, 10..46 letters

# ByClass index -> character (official emnist-byclass-mapping.txt order).
BYCLASS_CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase
MERGED_LOWERCASE = "cijklmopsuvwxyz"

# Pairs people and models confuse; EMNIST itself cannot always tell them apart.
LOOKALIKE_GROUPS = ("0O", "1IL", "2Z", "5S", "9gq", "6b", "4A")


def is_digit(index: int) -> bool:
    return 0 <= index < NUM_DIGITS


def char_to_index(char: str) -> int:
    """ByMerge index of a character; merged lowercase letters map to their capital."""
    if char in MERGED_LOWERCASE:
        char = char.upper()
    index = BYMERGE_CHARS.find(char)
    if len(char) != 1 or index < 0:
        raise ValueError(f"{char!r} is not an EMNIST ByMerge character")
    return index


def byclass_to_bymerge(byclass_index: int) -> int:
    """Map a ByClass label (0..61) to its ByMerge label (0..46)."""
    if not 0 <= byclass_index < len(BYCLASS_CHARS):
        raise ValueError(f"ByClass label {byclass_index} is outside 0..61")
    return char_to_index(BYCLASS_CHARS[byclass_index])


def mapping_file_text() -> str:
    """The official emnist-bymerge-mapping.txt: 'index ascii_code' per line."""
    return "".join(f"{i} {ord(c)}\n" for i, c in enumerate(BYMERGE_CHARS))


def check_mapping_file(text: str, source: str = "mapping file") -> None:
    """Refuse a mapping file that disagrees with BYMERGE_CHARS (e.g. a ByClass one), naming the lines
    that differ: a count alone says little, EMNIST Balanced has 47 classes too."""
    pairs, line_of = {}, {}
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            index, code = (int(x) for x in line.split())
            pairs[index] = chr(code)
        except (ValueError, OverflowError):
            raise ValueError(f"{source}: line {line_no} is not 'index ascii_code': {line!r}") from None
        line_of[index] = line_no
    expected = dict(enumerate(BYMERGE_CHARS))
    if pairs == expected:
        return
    problems = [f"line {line_of[i]} maps {i} to {pairs[i]!r} ({ord(pairs[i])}), ByMerge's {i} is "
                f"{expected[i]!r} ({ord(expected[i])})" for i in sorted(pairs) if i in expected and pairs[i] != expected[i]]
    problems += [f"line {line_of[i]} names class {i}, beyond ByMerge's 0-{NUM_CLASSES - 1}"
                 for i in sorted(pairs) if i not in expected]
    missing = [i for i in expected if i not in pairs]
    if missing:
        problems.append(f"no line for class{'es' if len(missing) > 1 else ''} {', '.join(map(str, missing[:5]))}"
                        f"{', ...' if len(missing) > 5 else ''}")
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    raise ValueError(f"{source}: not the ByMerge mapping ({len(pairs)} classes, ByMerge has {NUM_CLASSES}, as EMNIST "
                     f"Balanced does): {shown}. The ByMerge files come with emnist-bymerge-mapping.txt")


def are_lookalikes(a: str, b: str) -> bool:
    """Two ByMerge classes people and models mix up: a known look-alike pair, or one letter's two cases."""
    if a != b and a.lower() == b.lower():
        return True
    return any(a in group and b in group for group in LOOKALIKE_GROUPS) and a != b


def letter_matches(drawn_letter: str, predicted: str, tolerant: bool = False) -> bool:
    """Does a prediction read a drawn letter correctly (case-insensitive)?

    With `tolerant`, a look-alike digit counts too: o->0, i/l->1, s->5, g/q->9, z->2.
    """
    drawn, pred = drawn_letter.lower(), predicted.lower()
    if pred == drawn:
        return True
    return tolerant and pred in TOLERATED_DIGITS.get(drawn, "")


# What no reader of one isolated character can settle, forgiven by the "tolerant" score of pen data:
# a letter's case, and these groups (compared case-blind).
TOLERANT_GROUPS = ("0o", "1il", "2z", "5s", "9gq")


def reads_as_meant(meant: str, read: str, tolerant: bool = False) -> bool:
    """Whether a reading `read` (a ByMerge class) is the character a writer meant (`meant`, any case).
    Strict: the same ByMerge class. Tolerant: also a letter's other case and TOLERANT_GROUPS."""
    if char_to_index(meant) == char_to_index(read):
        return True
    a, b = meant.lower(), read.lower()
    return tolerant and (a == b or any(a in group and b in group for group in TOLERANT_GROUPS))


TOLERATED_DIGITS = {"o": "0", "i": "1", "l": "1", "s": "5", "g": "9", "q": "9", "z": "2"}
