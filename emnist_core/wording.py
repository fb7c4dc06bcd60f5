"""What the page says about a reading, in words: the verdict, the one-line bar, a line's table, the
opening messages. Plain strings (Markdown) from emnist_core's readings; nothing here knows the page's
framework, so a test or another front end can ask what the page would say."""

from .inference import ANY, classes_of
from .labels import MERGED_LOWERCASE
from .predict import LineReading, Prediction, percent, why_passed_over

START_MESSAGE = "Draw one digit or letter on the canvas: the reading updates after each stroke."
UPLOAD_MESSAGE = "Upload a photo or scan of one handwritten character, or click an example."
LINE_START = ("Write a word, a number or a postcode on the canvas; joined-up words read best as "
              "\"Letters only\" or \"An English word\".")
LINE_UPLOAD = "Upload a photo or scan of one handwritten line."


def is_toss_up(prediction: Prediction) -> bool:
    """Digit and letter exactly as likely: the "top" rule's tie, where the classes' kind disagrees with
    the character read (JUST_UNDER_HALF on the letter side, so allow for that one float step)."""
    return abs(prediction.p_digit - 0.5) < 1e-6


def headline(prediction: Prediction, writing: str = ANY) -> str:
    """"Reads as X (87%) — a digit": the character read, its probability (the number its top-5 row
    shows) and its kind, which always agree."""
    (char, p), kind = prediction.top5[0], prediction.kind
    if classes_of(writing) is None and is_toss_up(prediction):
        return f"## Reads as **{char}** ({percent(p)}) — a toss-up between digit and letter"
    return f"## Reads as **{char}** ({percent(p)}) — a {kind}"


def shown(char: str) -> str:
    """A class as people write it: ByMerge's O stands for o too."""
    return f"{char.lower()}/{char}" if char.lower() in MERGED_LOWERCASE else char


def describe(prediction: Prediction, writing: str = ANY) -> str:
    """The verdict in words: the reading with its probability, digit or letter, and any doubt. Every
    number is a character's one probability, as the top-5 shows it. `writing`: what the writer said
    they wrote ("any", "digits", "letters")."""
    char, p = prediction.top5[0]
    only = classes_of(writing)
    lines = [headline(prediction, writing)]
    settles_it = False  # would "digits only" / "letters only" settle the doubt?
    if only is not None:
        lines.append(f"Read as {only} only, as you chose: the other kind was left out.")
    elif is_toss_up(prediction):
        lines.append(f"Digit and letter are equally likely here; **{char}** is the likeliest character.")
        settles_it = True
    why = why_passed_over(prediction)
    if why:  # the reading rule decided the kind first: say so, or the top-5 looks out of order
        lines.append(why[0].upper() + why[1:] + ".")
        settles_it = True
    if char.lower() in MERGED_LOWERCASE:
        lines.append(f"EMNIST ByMerge keeps {char.upper()} and {char.lower()} as one class: they look alike.")
    if prediction.lookalikes:
        (first, second), (p_first, p_second) = prediction.lookalikes, prediction.lookalike_odds
        lines.append(f"⚠️ Could be **{shown(first)} or {shown(second)}**: EMNIST writes these alike, so the "
                     f"model cannot be sure which one you meant ({percent(p_first)} against "
                     f"{percent(p_second)}).")
        settles_it = settles_it or (only is None and first.isdigit() != second.isdigit())
    elif p < 0.5:
        lines.append(f"Not sure: its best guess gets only {percent(p)}.")
    if settles_it:
        lines.append("If you know which you meant, say so under **What are you writing?**: "
                     "*Digits only* or *Letters only*.")
    return "\n\n".join(lines)


def reading_bar(top5: dict | None, verdict: str) -> str:
    """The verdict's first line and the runners-up, for the one-line bar above the canvas on a phone."""
    first = verdict.split("\n\n", 1)[0].removeprefix("## ")
    if not top5:
        return first
    others = " · ".join(f"{c} {percent(p)}" for c, p in list(top5.items())[1:3])
    return f"{first} · then {others}" if others else first


def line_details(reading: LineReading) -> str:
    """A line's reading as a table: each character read and its top 3, and the word when read as one."""
    rows = ["| # | reads | top 3 |", "| --- | --- | --- |"]
    if reading.joined:
        listed = " with the word list" if reading.words_asked else ""
        rows.insert(0, f"Read whole, as joined-up writing{listed}: **{reading.joined}**. Character by character "
                       f"(the boxes) the model reads **{reading.word or reading.letters}**.\n")
    elif reading.checked:
        rows.insert(0, f"Read with the word model's help: **{reading.checked}**. Character by character (the boxes) "
                       f"the model reads **{reading.letters}**.\n")
    elif reading.word:
        rows.insert(0, f"Read as the word **{reading.word}**; letter by letter the model reads "
                       f"**{reading.letters}**.\n")
    elif reading.words_asked:
        rows.insert(0, "No word of the word list reads better than the letters as they are.\n")
    for n, (_, prediction) in enumerate(reading.characters, start=1):
        top3 = " · ".join(f"{c} {percent(p)}" for c, p in prediction.top5[:3])
        doubt = f" (looks alike: {' or '.join(prediction.lookalikes)})" if prediction.lookalikes else ""
        rows.append(f"| {n} | **{prediction.top5[0][0]}** | {top3}{doubt} |")
    return "\n".join(rows)
