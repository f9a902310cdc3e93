"""Crisis words: first-person phrases of suicide, self-harm or not wanting to live, in nb, nn and en.

A match shows the emergency numbers and asks "does this concern you now?" (flows.intake), so the
lists aim at how a doctor writes about *themselves*, and leave out a doctor's ordinary talk of
patients, deaths and prevention work ("pasienten begikk selvmord", "suicide prevention").

Phrase syntax (one phrase per list entry; text and phrase are compared case-insensitively):

``word``
    A whole word: ``vil dø`` does not match "vil døse". Between two words any run of spaces,
    punctuation or emoji ("vil...dø", "vil 😢 dø"). A hyphen in a phrase is a space
    (``self-harm`` matches "self harm" and "self-harm"); an apostrophe inside a word is dropped,
    in the phrase and in the text alike (``don't`` matches "don't", "don’t" and "dont").
``word*``
    Any ending, at least two letters before the star: ``selvmordstank*`` matches
    "selvmordstanke", "selvmordstanker", "selvmordstankene".
``[a|b c]``
    One of the alternatives, each one or more words: ``[tar|tok|tatt] livet av meg``.
``(a|b c)``
    The same, optional: ``orker ikke (å) leve``. Not first or last (it would change nothing).
``~`` or ``~3``
    Up to 2 (or the number given, 1 to 5) other words, but never a negation ("ikke", "aldri",
    "not", "never", ...) nor a word for someone else ("han", "hun", "pasienten", "she", "they",
    "som", "who", ...): ``jeg ~3 [tenker|tenkt] på selvmord`` matches "jeg har lenge tenkt på selvmord"
    but not "jeg tror hun tenker på selvmord" nor "jeg tenker ikke på selvmord".
``^``
    The start of the message, a line or a clause (after . , ! ? : ; or an emoji): a sentence
    with no subject, as people write when they mean themselves ("Orker ikke mer. Vil dø.").
    First in the phrase, or first in an alternative of its first group: ``[jeg|^] ~2 vil dø``.
    A gap right after it spans one word at most ("Har så lyst til å dø", but not "Uten
    behandling vil mange dø"), whatever its number says for the other alternatives.
``$``
    The end of the message, a line or a clause (not a colon: "Selvmordstanker: nei" is a form
    line); last in the phrase: ``thinking about ending it $``
    ("ending it with him" is a break-up).
``!a`` or ``![a|b c]``
    Last in the phrase: not followed by these words: ``kutte* meg ![ut|av]`` leaves
    "kutte meg ut av prosjektet".

Text is normalised before matching: Unicode NFKC, casefold, curly apostrophes made straight
and invisible characters (soft hyphen, zero-width space) removed. All the phrases of all the
languages are compiled once, into one expression, when :class:`CrisisWords` is built, so a
message is read against every language (a doctor may write Nynorsk in a Bokmål conversation).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

__all__ = ["DEFAULT_PHRASES", "CrisisWords"]

_LETTER = r"[^\W_]"
_SEP = r"[\W_]+"
_WORD_START = r"(?<![^\W_])"
_WORD_END = r"(?![^\W_])"
_CLAUSE_START = r"(?:\A|(?<=\n)|(?<=[^\w\s-])|(?<=-[^\S\n])|(?<=_))[^\S\n]*+(?=[^\W_])"
"""At the start, after a line break, or after a mark that is neither a letter nor a space (a hyphen only
with a space after it: "17-åring" is one word); linear, however long a run of marks."""
_GAP_WORD = r"[^\W\d_]+(?![\d])"
"""A word a gap may step over: letters only ("24F" or "17" is a patient in a note, not the writer)."""
_CLAUSE_END = r"(?=[^\S\n]*(?:\Z|\n|[^\w\s:]))"

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "′": "'"})
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_INNER_APOSTROPHE = re.compile(r"(?<=[^\W_])'(?=[^\W_])")

_NEGATIONS = (
    "ikke ikkje ikkj ikk aldri ingen ingenting inga ikkje "
    "not no never nothing nobody none nor dont doesnt didnt wont wouldnt cant cannot couldnt "
    "isnt wasnt arent werent havent hasnt hadnt shouldnt "
    "benekter benektar nekter nektar avkrefter avkreftar deny denies denied denying"
)
_OTHERS = (
    "han hun hen ho ham henne honom de dei dem deim du deg dere dykk vi oss "
    "hans hennes hennar deres deira sin sitt sine som man "
    "pasient* kolleg* legen leger legene legar legane folk andre alle "
    "mann mannen kvinne* gutt* jente* mor moren mora far faren barn* sønn* datter* dotter* venn* bror* søster* "
    "he she they him her them his hers their theirs you we us who whom whose which "
    "patient* colleague* doctors people someone somebody anyone anybody everyone others "
    "men woman women boy girl guy person friend* mother father mum mom dad son daughter brother sister "
    "wife husband partner "
    "hes shes hed shed theyre theyve theyd theyll youre youve youd"  # "he's", "she'd", "they're"...
)
_SOMEONE_ELSE_TOO = (
    "mange noen noko nokon flere fleire tidligere tidlegare kronisk* akutt* kjent "
    "bestemor* mormor* farmor* bestefar* morfar* farfar* besteforeld* ektefelle* kone* samboer* "
    "many some several most few previous* history known chronic* acute* "
    "mr mrs ms dr grandma* grandmother* grandfather* grandpa* grandparent* nan"
)
"""Quantifiers, clinical words and people a note or a story is about, kept out of a gap as well."""


def _word_regex(word: str) -> str:
    if word.endswith("*"):
        return re.escape(word[:-1]) + _LETTER + "*"
    return re.escape(word)


_BLOCKED = "(?:" + "|".join(_word_regex(w) for w in f"{_NEGATIONS} {_OTHERS} {_SOMEONE_ELSE_TOO}".split()) + ")" + _WORD_END


def _normalise(text: str) -> str:
    """The text as phrases see it: NFKC, casefolded, apostrophes straight, none inside a word."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold().translate(_APOSTROPHES)
    return _INNER_APOSTROPHE.sub("", text)


# --- the phrase language ----------------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    text: str


@dataclass(frozen=True)
class _Gap:
    most: int


@dataclass(frozen=True)
class _Start:
    pass


@dataclass(frozen=True)
class _End:
    pass


@dataclass(frozen=True)
class _Group:
    alternatives: tuple[tuple[_Item, ...], ...]
    optional: bool


@dataclass(frozen=True)
class _Not:
    alternatives: tuple[tuple[_Item, ...], ...]


_Item = _Word | _Gap | _Start | _End | _Group | _Not

_TOKEN = re.compile(r"\s+|-|(?P<word>[^\W_]+\*?)|~(?P<gap>\d*)|(?P<mark>[\[\]()|^$!*])|(?P<bad>.)", re.DOTALL)
_SYNTAX = "letters, spaces and [ ] ( ) | * ~ ^ $ !"


def _tokens(phrase: str) -> Iterator[tuple[str, str]]:
    phrase = _normalise(phrase)
    if re.search(r"\*[^\W_]", phrase):
        raise ValueError("'*' must end a word")
    for found in _TOKEN.finditer(phrase):
        if found["word"] is not None:
            word = found["word"]
            if word.endswith("*") and len(word) < 3:
                raise ValueError(f"{word!r}: '*' needs at least two letters before it")
            yield "word", word
        elif found["gap"] is not None:
            most = int(found["gap"] or 2)
            if not 1 <= most <= 5:
                raise ValueError(f"'~{found['gap']}': a gap is 1 to 5 words")
            yield "gap", str(most)
        elif found["mark"] is not None:
            if found["mark"] == "*":
                raise ValueError("'*' must end a word")
            yield "mark", found["mark"]
        elif found["bad"] is not None:
            raise ValueError(f"unexpected {found['bad']!r}: use {_SYNTAX}")


def _parse(phrase: str) -> tuple[_Item, ...]:
    """The phrase as items, or ValueError saying in a few words what is wrong with it."""
    if len(phrase) > 300:
        raise ValueError("longer than 300 characters")
    tokens = list(_tokens(phrase))
    items: list[_Item] = []
    i = 0

    def alternatives(closing: str) -> tuple[tuple[_Item, ...], ...]:
        nonlocal i
        alts: list[tuple[_Item, ...]] = []
        current: list[_Item] = []
        while True:
            if i >= len(tokens):
                raise ValueError(f"unclosed {'[' if closing == ']' else '('}")
            kind, value = tokens[i]
            i += 1
            if kind == "word":
                current.append(_Word(value))
            elif kind == "gap":
                current.append(_Gap(int(value)))
            elif value == "^":
                current.append(_Start())
            elif value in "|" + closing:
                if any(isinstance(item, _Start) for item in current[1:]):
                    raise ValueError("'^' must come first")
                if current == [_Start()]:
                    pass
                elif not any(isinstance(item, _Word) for item in current):
                    raise ValueError("an alternative without a word")
                elif isinstance(current[0], _Gap) or isinstance(current[-1], _Gap | _Start):
                    raise ValueError("'~' must stand between words")
                if any(isinstance(a, _Gap) and isinstance(b, _Gap) for a, b in pairwise(current)):
                    raise ValueError("two '~' in a row: use one, of 1 to 5 words")
                alts.append(tuple(current))
                current = []
                if value == closing:
                    return tuple(alts)
            elif value in "[(":
                raise ValueError("groups cannot be nested")
            else:
                raise ValueError(f"unexpected {value!r} inside a group")

    while i < len(tokens):
        kind, value = tokens[i]
        i += 1
        if kind == "word":
            items.append(_Word(value))
        elif kind == "gap":
            items.append(_Gap(int(value)))
        elif value == "^":
            items.append(_Start())
        elif value == "$":
            items.append(_End())
        elif value in "[(":
            items.append(_Group(alternatives("]" if value == "[" else ")"), optional=value == "("))
        elif value == "!":
            if i < len(tokens) and tokens[i][0] == "word":
                items.append(_Not(((_Word(tokens[i][1]),),)))
                i += 1
            elif i < len(tokens) and tokens[i] == ("mark", "["):
                i += 1
                items.append(_Not(alternatives("]")))
            else:
                raise ValueError("'!' takes a word or [ ] after it")
        else:
            raise ValueError(f"unmatched {value!r}")
    _check_order(items)
    return tuple(items)


def _check_order(items: list[_Item]) -> None:
    if not any(isinstance(item, _Word | _Group) for item in items):
        raise ValueError("empty phrase" if not items else "a phrase needs a word")
    for at, item in enumerate(items):
        if isinstance(item, _Start) and at != 0:
            raise ValueError("'^' must come first")
        if isinstance(item, _Group) and any(isinstance(x, _Start) for alt in item.alternatives for x in alt):
            if at != 0 or item.optional:
                raise ValueError("'^' must come first")
            if at == len(items) - 1 or not isinstance(items[at + 1], _Word | _Group | _Gap):
                raise ValueError("'^' needs words after it")
        if isinstance(item, _Not) and any(not isinstance(x, _Word) for alt in item.alternatives for x in alt):
            raise ValueError("'!' takes words only")
        if isinstance(item, _End | _Not) and at != len(items) - 1:
            raise ValueError(f"'{'$' if isinstance(item, _End) else '!'}' must come last")
    body = [item for item in items if not isinstance(item, _End | _Not)]
    if isinstance(body[0], _Gap) or isinstance(body[-1], _Gap):
        raise ValueError("'~' must stand between words")
    if any(isinstance(a, _Gap) and isinstance(b, _Gap) for a, b in pairwise(body)):
        raise ValueError("two '~' in a row: use one, of 1 to 5 words")
    if any(isinstance(item, _Group) and item.optional for item in (body[0], body[-1])):
        raise ValueError("'( )' first or last changes nothing: leave it out or use [ ]")
    for before, item, after in zip(body, body[1:], body[2:], strict=False):
        if isinstance(item, _Group) and item.optional and isinstance(before, _Gap) and isinstance(after, _Gap):
            raise ValueError("'~ ( ) ~' is two gaps in a row when the group is absent")


def _sequence(items: Sequence[_Item], final: bool) -> str:
    """Items in a row; each one but the last takes the separator after it along."""
    parts = []
    for at, item in enumerate(items):
        last = final and at == len(items) - 1
        if isinstance(item, _Word):
            parts.append(_word_regex(item.text) + (_WORD_END if last else _SEP))
        elif isinstance(item, _Gap):
            parts.append(f"(?:(?!{_BLOCKED}){_GAP_WORD}{_SEP}){{0,{item.most}}}")
        elif isinstance(item, _Start):
            parts.append(_CLAUSE_START)
        elif isinstance(item, _Group):
            group = "(?:" + "|".join(_sequence(alt, last) for alt in item.alternatives) + ")"
            parts.append(group + ("?" if item.optional else ""))
    return "".join(parts)


def _compile(items: tuple[_Item, ...]) -> str:
    tail = ""
    if isinstance(items[-1], _End):
        tail, items = _CLAUSE_END, items[:-1]
    elif isinstance(items[-1], _Not):
        tail = "(?!" + _SEP + "(?:" + "|".join(_sequence(alt, True) for alt in items[-1].alternatives) + "))"
        items = items[:-1]
    return "(?:" + "|".join(_WORD_START + _sequence(body, True) for body in _subjects(items)) + ")" + tail


def _subjects(items: tuple[_Item, ...]) -> list[tuple[_Item, ...]]:
    """The phrase, with a gap right after a clause start kept to one word.

    ``[jeg|^] ~3 tenkt på selvmord`` is ``jeg ~3 tenkt på selvmord`` or ``^ ~1 tenkt på selvmord``:
    after "jeg" a few words may come between ("jeg har lenge tenkt"), but at a clause start more
    than one would let any subject in ("Pasienten hans har tenkt", "Mange leger har tenkt").
    """
    first, rest = items[0], items[1:]
    if not rest or not isinstance(rest[0], _Gap):
        return [items]
    if isinstance(first, _Start):
        return [(first, _Gap(1), *rest[1:])]
    if isinstance(first, _Group) and (_Start(),) in first.alternatives:
        others = tuple(alt for alt in first.alternatives if alt != (_Start(),))
        subjectless: tuple[_Item, ...] = (_Start(), _Gap(1), *rest[1:])
        return [(_Group(others, optional=False), *rest), subjectless] if others else [subjectless]
    return [items]


# --- the public face ---------------------------------------------------------------------


class CrisisWords:
    """Phrases by language (``{"nb": [...], "nn": [...], "en": [...]}``), matched against any text."""

    def __init__(self, phrases: Mapping[str, Sequence[str]]) -> None:
        expressions: dict[str, None] = {}
        for language, entries in phrases.items():
            for at, phrase in enumerate(entries):
                try:
                    expressions[_compile(_parse(phrase))] = None
                except ValueError as error:
                    raise ValueError(f"{language}[{at}] {phrase!r}: {error}") from None
        self._pattern = re.compile("|".join(f"(?:{e})" for e in expressions)) if expressions else None

    @classmethod
    def validate(cls, phrase: str) -> None:
        """Raise ValueError, with a short one-line reason, if ``phrase`` is not a valid phrase."""
        _compile(_parse(phrase))

    def matches(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(_normalise(text)) is not None


# --- the default lists ---------------------------------------------------------------------
# Tested against a corpus of crisis phrasings and of everyday and clinical sentences that are not
# (tests/test_crisis_words.py); config.example.toml carries the same lists for operators to extend.

DEFAULT_PHRASES: Mapping[str, tuple[str, ...]] = {
    "nb": (
        # taking one's life
        "[ta|tar|tok|tatt] livet av meg",
        "[ta|tar|tok|tatt] livet mitt ![tilbake|i egne hender]",
        "[ta|tar|tok|tatt] mitt (eget) liv",
        "[jeg|^] ~3 [tenker|tenkte|tenkt|tenke] ~1 på selvmord",
        "[jeg|^] ~3 [vurderer|vurdert|vurderte|planlegger|planlagt|planla|forsøkt|forsøkte|prøvd|prøvde|begå|begår] selvmord",
        (
            "[jeg|^] ~3 [har|hadde|får|fikk|sliter med|kjenner på|plages av|plaget av] ~2 [selvmordstank*|selvmordsplan*|"
            "selvmordsfors*]"
        ),
        "[mine|min] [selvmordstank*|selvmordsplan*]",
        "[selvmordstankene|selvmordstankane] [kommer|kom|er|har] ~2 [tilbake|igjen|verre|sterkere]",
        "^ [selvmordstanker|selvmordstankar] $",
        "[jeg|^] ~3 [har|hadde|får|fikk|sliter med] ~1 tanker om [selvmord|å dø|å ta livet av meg]",
        "[jeg|^] ~3 [drepe|drept|dreper|drepte] meg selv",
        "[jeg|^] ~2 [vil|ville|tenker på å|tenkt på å|har lyst til å|lyst til å] drepe meg",
        "[gjøre|gjør|gjort] slutt på [livet mitt|mitt liv|meg selv]",
        "[jeg|^] ~3 [gjøre|gjør] slutt på livet",
        "[jeg|^] ~3 avslutte livet",
        "avslutte [livet mitt|mitt liv]",
        "[jeg|^] ~3 [ta|tar|tok|tatt] en overdose",
        "[henge|henger|hengte] meg ![på|med|opp|etter|i|ikke]",
        "[jeg|^] ~3 [hoppe|hopper|hoppet] foran [toget|et tog|en bil|bilen|trikken|bussen|t banen]",
        (
            "[jeg|^] ~3 [vil|skal|tenker på å|tenkte på å|tenkt på å|har lyst til å|lyst til å] [hoppe|kaste meg] [fra|"
            "ut fra|ned fra|foran|ut av] [brua|broa|taket|vinduet|balkongen|stupet|toget|et tog|en bil|bilen|bussen|"
            "t banen]"
        ),
        "[jeg|^] ~2 [har|hadde] ikke lyst til å leve",
        "[jeg|^] ~3 [vil|ville|har lyst til å|lyst til å|tenker på å|tenkt på å|skal] [skade|kutte] meg ![på|i fingeren|ut|av]",
        "[jeg|^] ~1 skader meg $",
        "[jeg|^] ~2 fortjener ikke å leve",
        "[sovne|sove] og aldri våkne",
        "[jeg|^] ~3 bestemt meg for å [dø|ta livet av meg|avslutte livet|gjøre slutt på det]",
        (
            "[jeg|^] ~3 [tatt|tok] [alle|alle sammen|hele glasset|for mange|mange] ~1 [tabletter|tablettene|piller|pillene|"
            "sovetabletter|sovepiller]"
        ),
        "ser ikke ~1 [vits|poenget|meningen|poeng|mening|vitsen] [i|med] å leve",
        "ser ikke noen [vits|poeng|mening] [i|med] å leve",
        "[tenker|tenkte|tenkt] jeg ~2 på [selvmord|å dø|å ta livet av meg|å ta livet mitt|å gjøre slutt på livet]",
        (
            "[har|hadde] jeg ~2 [lyst til å dø|lyst å dø|tenkt på selvmord|tenkt på å dø|selvmordstank*|selvmordsplan*|"
            "ikke lyst til å leve]"
        ),
        "[vil|ville|skulle] jeg ~2 [dø|ønske jeg var død|ønske jeg ikke fantes]",
        "[orker|klarer] jeg ikke ~1 [å leve|leve|livet]",
        "[kutter|kuttet|skader|skadet|risper|rispet] jeg meg ![på|ut|i fingeren]",
        "^ [har|hadde] ~1 lyst (til) å ~1 dø",
        # dying, not living
        (
            "[jeg|^] ~3 [vil|ville|ønsker å|ønsket å|ønsker meg|fortjener å|fortjente å|har lyst til å|hadde lyst til å|"
            "lyst til å|lyst å] ~2 dø ![av latter]"
        ),
        "[jeg|^] ~3 [tenker|tenkte|tenkt] ~1 på å dø",
        "[jeg|^] ~3 [vil|ville|ønsker|ønsket|skulle ønske] ~1 [jeg var|å være|være] død",
        "[like gjerne|heller] [vært|være] død",
        "[jeg|^] ~2 [vil|ville|ønsker|orker|klarer|gidder|har lyst til å] ikke (å) leve ![i|på|med|der|her i|sammen]",
        "[jeg|^] ~2 [vil|ønsker|orker] ikke (å) [finnes|leve lenger|leve mer|være her lenger|være her mer|være til]",
        "[jeg|^] ~2 [orker|klarer] ikke [livet|å leve|leve] $",
        "[jeg|^] ~2 [orker|klarer] ikke [livet|å leve|leve] [mer|lenger]",
        "[ønske|ønsker|ønsket] jeg ikke [fantes|var født|levde|hadde blitt født]",
        "[håper|håpet] (at) jeg ikke våkner ![av|før|når|om|tidlig]",
        "[jeg|^] ~2 vil ikke våkne ![tidlig|før|klokka|kl|om]",
        (
            "bedre [uten meg|om jeg ikke fantes|om jeg var død|om jeg døde|om jeg forsvant|hvis jeg ikke fantes|"
            "hvis jeg var død|hvis jeg døde]"
        ),
        "[jeg|^] ~3 livstrett*",
        "ser ingen [utvei|annen utvei|mening med livet|grunn til å leve] ![enn|annet enn|utenom]",
        "ser ingen vei ut !av",
        "[lei|trøtt|trett|sliten] av å leve ![i|på|med|som|uten]",
        "[poenget|vitsen|meningen] med å leve",
        "forsvinne for godt",
        "[skal|vil] ta slutt for godt",
        "[gjøre|gjør|gjort] slutt på [alt|alt sammen|det hele]",
        "ingen (som) [ville|vil|hadde|kommer til å] [savne|savnet] meg",
        "[jeg|^] ~3 [vurdert|vurderer|tenkt|tenker|tenkte|planlegger|planlagt|vil|skal] (på) å [ta|tatt] en overdose",
        (
            "[lyst til å|ville|vil|tenkte på å|tenkt på å|tenker på å] [hoppe|kaste meg] [foran|framfor] [toget|et tog|"
            "t banen|bussen|en bil|trikken]"
        ),
        "[jeg|^] ~3 [samlet|samla|spart|sparer|hamstret|hamstra|hamstrer] (opp|på) ~1 [tabletter|piller|medisiner|sovetabletter]",
        "tenk* på å ta [alle sammen|alle på en gang|hele glasset|hele pakka|hele pakken] ![med|til|på]",
        (
            "[jeg|^] ~3 [skrevet|skrive|skrev|skriver] ~2 [avskjedsbrev*|farvelbrev*] ![til pasient*|til kolleg*|"
            "til avdeling*|til jobb*]"
        ),
        "[jeg|^] ~2 [vil|ville|lyst til å|tenkte på å|tenker på å|tenkt på å|bare] [kjøre|kjørte] ~1 av veien",
        "[tenkte|tenkt|tenker|tenke|ville|vil|lyst til] (på) å hoppe $",
        (
            "[tenkte|tenkt|tenker|tenke|ville|vil|lyst til] (på) å hoppe [fra|ned fra|ut fra] [brua|broa|taket|vinduet|"
            "balkongen|stupet]"
        ),
        "[jeg|^] ~2 [dø|døe] i [søvne|søvnen]",
        "[jeg|^] ~4 ikke ~2 være i live",
        "ingen grunn til å leve",
        "ingen [vits|mening|poeng] (i|med) å leve",
        (
            "[jeg|^] ~3 [suicidal|suicidale] ![ideation|ideasjon|atferd|patient*|pasient*|person|people|folk|client*|risk|"
            "risiko|behaviour|behavior|atferd|teen*|adolescent*|young|ungdom*|man|mann|woman|kvinne*|child*|barn*|friend*|"
            "venn*|colleague*|kolleg*]"
        ),
        "[livet|det] er ikke verdt å leve",
        # self-harm
        "[skade|skader|skadet|skada|skadd] meg selv ![på sykkel*|på ski|i trening*|på jobb*|i fotball*]",
        "[jeg|^] ~2 [selvskader|selvskadet|selvskade]",
        "[jeg|^] ~3 [driver med|sliter med|begynt med|begynte med|holder på med|begynt å|begynte å] selvskad*",
        (
            "[kutte|kutter|kuttet|kutta|skjære|skjærer|risper|rispet|rispa|rispe] meg ![ut|av|på|løs|fri|i fingeren|"
            "i tommelen|i hånda|i hånden|ned|inn|igjennom]"
        ),
    ),
    "nn": (
        "[ta|tek|tok|teke|tatt] livet av meg",
        "[ta|tek|tok|teke|tatt] livet mitt ![tilbake|i eigne hender]",
        "[ta|tek|tok|teke|tatt] mitt (eige) liv",
        "[eg|^] ~3 [tenkjer|tenker|tenkte|tenkt|tenke|tenkje] ~1 på sjølvmord",
        "[eg|^] ~3 [vurderer|vurdert|vurderte|planlegg|planlagt|planla|forsøkt|freista|prøvd|prøvde|gjere] sjølvmord",
        "[eg|^] ~3 [har|hadde|får|fekk|slit med|kjenner på|plagast av] ~2 [sjølvmordstank*|sjølvmordsplan*|sjølvmordsfors*]",
        "[mine|min] [sjølvmordstank*|sjølvmordsplan*]",
        "sjølvmordstankane [kjem|kom|er|har] ~2 [tilbake|att|igjen|verre|sterkare]",
        "^ sjølvmordstankar $",
        "[eg|^] ~3 [har|hadde|får|fekk|slit med] ~1 tankar om [sjølvmord|å døy|å ta livet av meg]",
        "[eg|^] ~3 [drepe|drept|drep|drap] meg sjølv",
        "[eg|^] ~2 [vil|ville|tenkjer på å|tenkt på å|har lyst til å|lyst til å] drepe meg",
        "[gjere|gjer|gjort] slutt på [livet mitt|mitt liv|meg sjølv]",
        "[eg|^] ~3 [gjere|gjer] slutt på livet",
        "[eg|^] ~3 avslutte livet",
        "[eg|^] ~3 [ta|tek|tok|teke] ein overdose",
        "[henge|heng|hengde] meg ![på|med|opp|etter|i]",
        "[eg|^] ~3 [hoppe|hoppar|hoppa] framfor [toget|eit tog|ein bil|bilen|trikken|bussen]",
        (
            "[eg|^] ~3 [vil|skal|tenkjer på å|tenkte på å|tenkt på å|har lyst til å|lyst til å] [hoppe|kaste meg] [frå|"
            "ut frå|ned frå|framfor|ut av] [brua|taket|vindauget|balkongen|stupet|toget|eit tog|ein bil|bilen|bussen]"
        ),
        "[eg|^] ~2 [har|hadde] ikkje lyst til å leve",
        "[eg|^] ~3 [vil|ville|har lyst til å|lyst til å|tenkjer på å|tenkt på å|skal] [skade|kutte] meg ![på|i fingeren|ut|av]",
        "[eg|^] ~1 skadar meg $",
        "[eg|^] ~2 fortener ikkje å leve",
        "[sovne|sove] og aldri vakne",
        "[eg|^] ~3 bestemt meg for å [døy|dø|ta livet av meg|avslutte livet]",
        (
            "[eg|^] ~3 [tatt|tok|teke] [alle|alle saman|heile glaset|for mange|mange] ~1 [tablettar|tablettane|pillar|"
            "pillane|sovetablettar]"
        ),
        "ser ikkje ~1 [vits|poenget|meininga|poeng|meining|vitsen] [i|med] å leve",
        "[tenkjer|tenker|tenkte|tenkt] eg ~2 på [sjølvmord|å døy|å dø|å ta livet av meg|å ta livet mitt]",
        (
            "[har|hadde] eg ~2 [lyst til å døy|lyst å døy|lyst til å dø|tenkt på sjølvmord|tenkt på å døy|sjølvmordstank*|"
            "sjølvmordsplan*|ikkje lyst til å leve]"
        ),
        "[vil|ville|skulle] eg ~2 [døy|dø|ønskje eg var død|ønskje eg ikkje fanst]",
        "[orkar|klarar] eg ikkje ~1 [å leve|leve|livet]",
        "[kuttar|kutta|skadar|skada|rispar|rispa] eg meg ![på|ut|i fingeren]",
        "^ [har|hadde] ~1 lyst (til) å ~1 [døy|dø]",
        (
            "[eg|^] ~3 [vil|ville|ønskjer å|ynskjer å|ønskte å|fortener å|har lyst til å|hadde lyst til å|lyst til å|"
            "lyst å] ~2 [døy|dø|døe] ![av latter]"
        ),
        "[eg|^] ~3 [tenkjer|tenkte|tenkt] ~1 på å [døy|dø|døe]",
        "[eg|^] ~3 [vil|ville|ønskjer|ynskjer|skulle ønskje] ~1 [eg var|å vere|vere] død",
        "[like gjerne|heller] [vore|vere] død",
        "[eg|^] ~2 [vil|ønskjer|ynskjer|orkar|klarar|gidd|har lyst til å] ikkje (å) leve ![i|på|med|der|her i|saman]",
        "[eg|^] ~2 [vil|ønskjer|ynskjer|orkar] ikkje (å) [finnast|leve lenger|leve meir|vere her lenger|vere her meir|vere til]",
        "[eg|^] ~2 [orkar|klarar] ikkje [livet|å leve|leve] $",
        "[eg|^] ~2 [orkar|klarar] ikkje [livet|å leve|leve] [meir|lenger]",
        "[ønskjer|ynskjer|ønskte|ønske] eg ikkje [fanst|var fødd|levde]",
        "[håpar|håpa] (at) eg ikkje vaknar ![av|før|når|om|tidleg]",
        "[eg|^] ~2 vil ikkje vakne ![tidleg|før|klokka|kl|om]",
        "betre [utan meg|om eg ikkje fanst|om eg var død|om eg døydde|om eg forsvann|viss eg ikkje fanst|viss eg var død]",
        "[eg|^] ~3 [livslei*|livstrøytt*]",
        "ser [ingen|inga] [utveg|utveg lenger|meining med livet|grunn til å leve]",
        "ser ingen veg ut !av",
        "[lei|trøytt|trøtt|sliten] av å leve ![i|på|med|som|utan]",
        "[poenget|vitsen|meininga] med å leve",
        "forsvinne for godt",
        "[skal|vil] ta slutt for godt",
        "[gjere|gjer|gjort] slutt på [alt|alt saman|det heile]",
        "ingen (som) [ville|vil|hadde|kjem til å] [sakne|sakna|savne] meg",
        "[eg|^] ~3 [vurdert|vurderer|tenkt|tenkjer|tenkte|planlegg|planlagt|vil|skal] (på) å [ta|teke|tatt] ein overdose",
        (
            "[lyst til å|ville|vil|tenkte på å|tenkt på å|tenkjer på å] [hoppe|kaste meg] framfor [toget|eit tog|bussen|"
            "ein bil|trikken]"
        ),
        "[eg|^] ~3 [samla|spart|sparar|samlar|hamstra|hamstrar] (opp|på) ~1 [tablettar|pillar|medisinar|sovetablettar]",
        "tenk* på å ta [alle saman|alle på ein gong|heile glaset|heile pakka] ![med|til|på]",
        "[eg|^] ~3 [skrive|skreiv|skriv] ~2 [avskilsbrev*|avskjedsbrev*|farvelbrev*]",
        "[eg|^] ~2 [vil|ville|lyst til å|tenkte på å|tenkjer på å|tenkt på å|berre] [køyre|køyrde] ~1 av vegen",
        "[tenkte|tenkt|tenkjer|tenkje|ville|vil|lyst til] (på) å hoppe $",
        (
            "[tenkte|tenkt|tenkjer|tenkje|ville|vil|lyst til] (på) å hoppe [frå|ned frå|ut frå] [brua|taket|vindauget|"
            "balkongen|stupet]"
        ),
        "[eg|^] ~3 [døy|dø|døe] i [søvne|søvnen]",
        "[eg|^] ~4 ikkje ~2 vere i live",
        "ingen grunn til å leve",
        "ingen [vits|meining|poeng] (i|med) å leve",
        (
            "[eg|^] ~3 [suicidal|suicidale] ![ideation|ideasjon|atferd|patient*|pasient*|person|people|folk|client*|risk|"
            "risiko|behaviour|behavior|atferd|teen*|adolescent*|young|ungdom*|man|mann|woman|kvinne*|child*|barn*|friend*|"
            "venn*|colleague*|kolleg*]"
        ),
        "[livet|det] er ikkje verdt å leve",
        "[skade|skadar|skada|skadd] meg sjølv ![på sykkel*|på ski|på trening*|på jobb*|i fotball*]",
        "[eg|^] ~2 [sjølvskadar|sjølvskada|sjølvskade]",
        "[eg|^] ~3 [driv med|slit med|byrja med|begynt med|held på med|byrja å|begynt å] sjølvskad*",
        "[kutte|kuttar|kutta|skjere|skjer|rispar|rispa|rispe] meg ![ut|av|på|laus|fri|i fingeren|i tommelen|i handa|ned|inn]",
    ),
    "en": (
        (
            "[i|ive|im|id|^] ~2 suicidal ![ideation|patient*|person|people|client*|risk|behaviour|behavior|teen*|"
            "adolescent*|young|ideation in|man|woman|child*|friend*|colleague*]"
        ),
        "[i|ive|im|id|^] ~3 [have|had|having|get|getting|got|been having] ~1 suicidal [thoughts|ideation|feelings|urges|plans]",
        "my suicidal [thoughts|ideation|feelings|urges|plans]",
        (
            "[i|ive|im|id|^] ~3 [think*|thought] [about|of] suicide ![prevention|risk|screening|assessment|rate|rates|"
            "research|statistics|awareness|training|course|audit|cases|in]"
        ),
        (
            "[i|ive|im|id|^] ~3 [considering|considered|planning|planned|attempt*|contemplat*|commit] suicide ![prevention|"
            "risk|screening|assessment|rate|rates|research|statistics|awareness|training|course|audit|cases|in]"
        ),
        "[kill|killing|killed] myself",
        "[end|ending|ended|take|taking|took] my (own) life",
        (
            "[i|ive|im|id|^] ~3 [want|wanted|wanna|wish|wished|would like|d like|deserve|deserved|ready|"
            "going] (to) die ![laughing|of laughter|of embarrassment|for a]"
        ),
        "[i|ive|im|id|^] ~3 feel* like dying",
        (
            "[i|ive|im|id|^] ~3 [dont|do not|no longer|cant|cannot|didnt] [want|wanna|wish|bear] (to) [live|be alive|exist|"
            "go on living|keep living] ![in|with|on|at|near|there|abroad|without]"
        ),
        "[i|ive|im|id|^] ~3 [dont|do not|no longer] want to be [here|alive] [anymore|any more]",
        "[i|ive|im|id|^] ~3 [dont|do not|no longer] want to be alive $",
        "wish i [was|were|could be] dead",
        "wish i [wasnt|werent|was not|were not] [here|alive|born|around]",
        "wish i (had) never [been born|existed|woken up|woke up]",
        (
            "[hope|hoping|hoped|wish|wishing] (that) i (just) [dont|wont|will not|do not|didnt|wouldnt] wake up ![the|my|"
            "him|her|them|anyone|early|before|at|in time|on time]"
        ),
        "sleep and never wake up",
        "[id|i would] rather be dead",
        "[i|ive|im|id|^] ~3 [want|wanted|wish|wished] to be dead",
        "[i|ive|im|id|^] ~3 [having|have|had|get|getting] thoughts of [suicide|killing myself|ending my life|dying]",
        "[i|ive|im|id|^] ~3 [thinking|think|thought] about dying ![patient*|people|children|relative*]",
        (
            "[i|ive|im|id|^] ~2 [took|taken|swallowed] [too many|all my|all the|a whole|loads of] ~1 [pills|tablets|"
            "paracetamol|meds]"
        ),
        "[cant|cannot|can not] go on living",
        (
            "[want|wanted|wanting|thought about|thinking about] (to) [step|stepping|jump|jumping|throw myself|"
            "throwing myself] in front of [a|the] [train|bus|lorry|truck|car|tube]"
        ),
        "[i|ive|im|id|^] ~3 [dont|do not] deserve to [live|be alive|exist]",
        "[i|ive|im|id|^] ~3 [going to|gonna|will|ready to|want to] end it [tonight|today|now|soon|this week]",
        "[life|it] [isnt|is not|aint] worth living",
        "[i|ive|im|id|^] ~3 [want|going|gonna|ready|planning|thinking about|thought about|think about] (to) end* it all",
        "[i|ive|im|id|^] ~3 [want to|wanna|going to|gonna|ready to|thinking about|thought about|think about] end* it $",
        "[i|ive|im|id|^] ~3 end* it all $",
        "better off [without me|dead|if i was dead|if i were dead|if i wasnt here|if i werent here]",
        "[no|not any|not a] [reason|point] [to live|in living|in being alive|to go on living|in going on living]",
        "nothing (left) to live for",
        "[tired|sick] of [living|life|being alive] ![in|with|on|at|like|out of|abroad]",
        "[point|sense] [in|of] [living|being alive|going on] ![with|in|at|as|like this in]",
        "[i|ive|im|id|^] ~3 [disappear|vanish] [for good|forever]",
        "[want|wanted] it all to [stop|end]",
        "[nobody|no one|noone] would (even) miss me",
        "[world|everyone|everybody|family|kids] [would be|d be|will be] better (off) if i [was|were] gone",
        "[i|ive|im|id|^] ~3 [thinking|thought|think|planning|planned|considering] [about|of] overdos*",
        "[i|ive|im|id|^] ~3 [want|wanted|going|gonna|plan|planning] (to) overdose",
        "[i|ive|im|id|^] ~3 [stockpil*|hoard*|saving up|saved up|stashed|stashing] ~2 [pills|tablets|meds|medication]",
        "[thinking|thought|think] about taking [them all|all of them|the lot|all my pills|all the pills|all my tablets]",
        "[i|ive|im|id|^] ~3 [wrote|written|writing|write] ~2 [goodbye|suicide|farewell] [note*|letter*]",
        (
            "[thought|thinking|think|considered|considering] about [steering|driving|crashing|swerving] [into|off] [the|"
            "a] [barrier|tree|wall|road|bridge|lorry|truck|oncoming]"
        ),
        "[i|ive|im|id|^] ~3 [step|jump|walk|throw myself] in front of [a|the] [train|bus|lorry|truck|car|tube]",
        "[i|ive|im|id|^] ~3 [wont|will not|not going to|not gonna] be alive",
        "[life|it|its|lifes] (is) not worth living",
        "[i|ive|im|id|^] ~3 [take|taking|took|taken] an overdose",
        "[i|ive|im|id|^] ~3 overdos* on purpose",
        "hang myself",
        "[i|ive|im|id|^] ~3 [jump|jumping] [off|in front of] [a|the] [bridge|building|roof|cliff]",
        (
            "[i|ive|im|id|^] ~2 [been|am|started|start|keep|kept|began|do|did|relapsed into|back to|"
            "cant stop] ~1 self [harm*|injur*]"
        ),
        "[i|ive|im|id|^] ~2 self harm* $",
        "my self [harm*|injur*]",
        (
            "[harm|harming|harmed|hurt|hurting|injure|injuring|injured|cut|cutting|burn|burning|burned|burnt] myself ![on|"
            "playing|at|while|in the|skiing|running|cycling|by accident|accidentally|lifting|shaving|cooking|badly at|"
            "some slack|with a scalpel|with a knife|in theatre|off]"
        ),
    ),
}
