"""Crisis words: the default list against a held-out corpus, and the phrase language of flows.crisis.

``CRISIS`` holds first-person messages of suicidal thoughts, self-harm or not wanting to live, in
Bokmål, Nynorsk and English, as a doctor in distress might type them; every one must match
``CrisisWords(DEFAULT_CRISIS_WORDS)``. ``EVERYDAY`` holds a doctor's ordinary talk of suicide, death,
self-harm, patients and idioms; none may match. Both were written apart from the list, before it
was finished; the list was then widened for the five crisis sentences its first draft missed, so
these prove the list as it stands, not how it does on sentences nobody has seen.
The remaining tests check the phrase language of :mod:`flows.crisis` on small hand-made lists, and
that ``config.example.toml`` shows the defaults.
"""

from __future__ import annotations

import re
import time
import tomllib
import unicodedata
from pathlib import Path

import pytest

import flows.crisis
from flows.crisis import CrisisWords
from flows.settings import DEFAULT_CRISIS_WORDS

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("nb", "nn", "en")

# --- the held-out corpus ------------------------------------------------------------------
#
# Left out of both corpora on purpose, as no word list can tell them apart without the
# conversation around them: "orker ikke mer" / "I can't go on like this" on their own
# (exhaustion as often as crisis), "jeg vil ikke være her lenger" (this job or this life),
# "I don't want to live in Oslo anymore", "I've been thinking about ending it" with nothing
# after it, "denne vakta tar livet av meg" (idiom, but "tar livet av meg" is also literal),
# and accidental cuts in the past tense ("kuttet meg på et glass", "I cut myself shaving"),
# which read the same as "kuttet meg i går" meant as self-harm.

CRISIS: dict[str, list[str]] = {
    "nb": [
        "tenker på å ta livet av meg",
        "Jeg er så sliten. Tenker på å ta livet mitt",
        "orker ikke å leve lenger",
        "jeg vil ikke leve lenger",
        "Sliten. Vil ikke leve mer.",
        "har lyst til å dø",
        "jeg har selvmordstanker",
        "Hei, jeg er lege og har hatt selvmordstanker i det siste",
        "har skadet meg selv igjen i natt",
        "jeg kutter meg når det blir for mye",
        "ser ingen vei ut lenger",
        "hadde vært bedre om jeg ikke fantes",
        "Orker ikke mer. Vil dø.",
        "jeg har tenkt på selvmord hele uka",
        "jeg tenkte på å ta livet mitt i går kveld",
        "jeg vil bare dø",
        "har planlagt hvordan jeg skal ta livet mitt",
        "jeg har begynt å skade meg selv igjen",
        "jeg ønsker å dø",
        "skulle ønske jeg var død",
        "jeg er suicidal",
        "det er ingen vits i å leve lenger",
        "jeg tenker på å ta en overdose etter vakta",
    ],
    "nn": [
        "orkar ikkje meir, vil døy",
        "eg har sjølvmordstankar",
        "eg vil ikkje leve meir",
        "tenkjer på å ta livet mitt",
        "eg har lyst til å døy",
        "har skada meg sjølv igjen",
        "eg kuttar meg når det blir for mykje",
        "eg ser ingen veg ut",
        "hadde vore betre om eg ikkje fanst",
        "Orkar ikkje meir. Vil berre døy.",
        "eg har tenkt på sjølvmord i heile haust",
        "eg tenkte på å ta livet av meg i natt",
        "eg orkar ikkje å leve lenger",
        "eg vil døy",
        "eg ønskjer å døy",
        "har byrja å skade meg sjølv att",
        "Eg er så sliten. Tenkjer på å ta mitt eige liv",
        "skulle ønskje eg var død",
        "eg har planar om å ta livet mitt",
        "eg vil berre døe",
        "eg kjenner meg suicidal",
        "eg tenkjer mykje på sjølvmord for tida",
    ],
    "en": [
        "I'm suicidal",
        "I don't want to live anymore",
        "I’ve been self-harming again",
        "I want to kill myself",
        "thinking about ending it all",
        "I don’t want to live",
        "i keep thinking about killing myself",
        "I want to die",
        "i've been having suicidal thoughts",
        "Can't do this anymore. Want to die.",
        "I've been cutting myself again",
        "I've started hurting myself again",
        "I just want to end my life",
        "I’ve thought about suicide every day this week",
        "I'd be better off dead",
        "I wish I was dead",
        "I'm planning to take my own life",
        "i don't want to be alive anymore",
        "I feel suicidal tonight",
        "I've been thinking of taking an overdose",
        "I harmed myself again yesterday",
        "Honestly I want to die. I'm so tired",
    ],
}

EVERYDAY: dict[str, list[str]] = {
    "nb": [
        "pasienten min begikk selvmord i går",
        "jeg jobber med selvmordsforebygging",
        "jeg vil døse litt før vakta",
        "vi hadde et dødsfall på avdelingen",
        "hun har selvmordstanker, hva gjør jeg?",
        "jeg tenker ikke på selvmord, bare sliten",
        "kurs i selvmordsrisikovurdering neste uke",
        "legen min sier jeg må kutte ut kaffe",
        "de vil kutte meg ut av prosjektet",
        "vi må ta livet lettere",
        "pasienten har skadet seg selv flere ganger",
        "han sa at han ville dø",
        "pasienten sier hun ikke vil leve lenger",
        "jeg har aldri hatt selvmordstanker",
        "Vi snakket om selvmord på fagmøtet i dag",
        "jeg skrev en epikrise om et selvmordsforsøk",
        "jeg var redd han skulle ta livet sitt",
        "pasienten døde i natt, og jeg er lei meg",
        "holdt på å dø av latter",
        "jeg kommer til å dø av kjedsomhet på dette kurset",
        "hvordan snakker jeg med en kollega som har selvmordstanker?",
        "jeg vurderte selvmordsrisikoen som lav",
        "skadet meg i ryggen da jeg løftet en pasient",
        "jeg er ikke suicidal, bare utbrent",
        "jeg har en suicidal pasient på legevakta nå",
        "jeg tror pasienten vil dø i løpet av natta",
        "har du lest den nye studien om selvmord blant leger?",
    ],
    "nn": [
        "eg kjem til å døy av latter",
        "pasienten min tok livet sitt i fjor",
        "ho har sjølvmordstankar, kva gjer eg?",
        "eg jobbar med sjølvmordsførebygging",
        "vi hadde eit dødsfall på avdelinga i natt",
        "eg tenkjer ikkje på sjølvmord, eg er berre sliten",
        "kurs i vurdering av sjølvmordsrisiko",
        "eg har aldri hatt sjølvmordstankar",
        "han har skada seg sjølv fleire gonger",
        "eg vil døse litt før vakta",
        "dei vil kutte meg ut av prosjektet",
        "eg må kutte ned på kaffien",
        "vi må ta livet med ro",
        "kollegaen min fortalde at ho ville døy",
        "pasienten døydde i går, og pårørande var der",
        "eg skreiv journal om eit sjølvmordsforsøk",
        "korleis snakkar eg med ein pasient som vil ta livet sitt?",
        "eg var redd han skulle ta livet sitt",
        "vi snakka om sjølvmord på fagmøtet",
        "eg held på å døy av keisemd",
        "mor mi er døyande, eg treng fri",
        "vi må døyve smertene hans betre",
        "eg er ikkje suicidal, berre utbrend",
        "eg trur pasienten kjem til å døy i natt",
        "har du lese den nye studien om sjølvmord blant legar?",
    ],
    "en": [
        "the patient attempted suicide last night",
        "I work in suicide prevention",
        "my colleague self-harms and I'm worried about her",
        "I'm dying to go on holiday",
        "this rota is killing me",
        "ending it with him was right",
        "I don't have suicidal thoughts, just exhausted",
        "we had a death on the ward today",
        "how do I assess suicide risk in A&E?",
        "she told me she wants to die",
        "my patient wants to end his life, what do I say?",
        "I'm not suicidal, I just need someone to talk to",
        "I’ve never self-harmed",
        "the course on self-harm assessment was good",
        "I nearly died laughing at the Christmas party",
        "I could kill for a coffee",
        "he said he wanted to kill himself",
        "I wrote up a suicide attempt in the notes",
        "my feet are killing me after that shift",
        "I need to cut down on caffeine",
        "thinking about ending it with my partner",
        "a patient of mine took her own life",
        "I want to live abroad for a year",
        "we talked about assisted dying at the ethics meeting",
        "I don't want to die without having seen Japan",
        "I have a suicidal patient in clinic now, what's the protocol?",
        "I think the patient will die tonight",
        "did you see the new paper on suicide among doctors?",
    ],
}

# A second round, written by someone who had seen neither the list nor the corpus above. The list as it
# stood then caught 23 of its 45 crisis messages and flagged 2 of its 45 everyday ones; it was widened
# (tablets saved up, goodbye letters, "lei av å leve", "tired of living", "denies" as a negation, ...)
# and these now pass. Two are left out, and are known: "... jeg har planlagt å bruke den på meg selv"
# (the access to the drug room, said without a crisis word) is missed, and the idiom "vaktplanen kjem
# til å ta livet av meg, haha" is flagged; either one is asked "does this concern you now?", no more.
SECOND_ROUND: dict[str, dict[str, list[str]]] = {
    "crisis": {
        "nb": [
            "Etter nattevakta satt jeg i bilen og tenkte at det hadde vært enklest om jeg bare kjørte av veien.",
            "jeg har begynt å skade meg selv igjen. ingen på jobben vet det",
            "Ærlig talt ser jeg ikke poenget med å leve lenger",
            "Jeg har samlet opp tabletter hjemme og tenker på å ta alle sammen. Vet ikke hvorfor jeg skriver dette her",
            "har hatt selvmordstanker hver eneste dag siden klagesaken kom",
            "Jeg vil ikke våkne i morgen.",
            "Skjønner ikke hvordan jeg skal klare en uke til. Tenker mye på å gjøre slutt på alt",
            "Jeg har skrevet avskjedsbrev til barna mine i går kveld",
            "kutter meg i armen etter vaktene for å kjenne noe som helst",
            "Jeg har bestemt meg for hvordan jeg skal ta mitt eget liv, og når",
            "Vil egentlig bare dø. Sorry for at jeg lesser dette på dere",
            "Det er ingen som hadde savnet meg om jeg ble borte. Har vurdert å ta en overdose i kveld",
            "Sto på perrongen i dag og hadde lyst til å hoppe foran toget",
            "jeg er så lei av å leve. vil bare at det skal ta slutt for godt",
        ],
        "nn": [
            "Eg orkar ikkje meir. Eg vil ikkje leve lenger",
            "Har hatt sjølvmordstankar heile veka, og i natt var det verre enn nokon gong",
            "eg har byrja å skade meg sjølv att",
            "Etter vakta sat eg i bilen og tenkte på korleis eg kunne gjere slutt på livet mitt",
            "Eg har lagt ein plan for å ta mitt eige liv",
            "Det hadde vore lettast om eg berre fekk døy i søvne i natt",
            "kva er vitsen med å leve når alt går i stykke? eg vil berre forsvinne for godt",
            "Eg har spart opp tablettar og tenkjer på å ta alle saman",
            "Eg skreiv eit avskilsbrev til familien min i går kveld.",
            "ingen ville sakna meg om eg var borte. eg tenkjer heile tida på å ta livet mitt",
            "Eg har lyst til å døy. Beklagar at eg skriv dette her",
            "Eg kuttar meg sjølv for å halde ut, og no klarer eg ikkje slutte",
            "Stod på brua på veg heim frå jobb og tenkte på å hoppe",
            "Lang helgevakt. Eg er så lei av å leve, eg vil berre at alt skal ta slutt",
            "Eg har bestemt meg. Eg kjem ikkje til å vere i live til jul",
        ],
        "en": [
            "Honestly I don't want to be alive anymore",
            "been having suicidal thoughts most nights since the inquest",
            "I've started cutting myself again after shifts",
            "I've got enough meds stockpiled at home and I keep thinking about taking them all",
            "Drove home after a 24h on call and seriously thought about steering into the barrier",
            "I wrote a goodbye note to my wife last night. I don't think I'll be around much longer",
            "i just want to die. sorry for dumping this here",
            "I've worked out how I'd end my life and it scares me how calm I feel about it",
            "Nobody would miss me if I was gone. Thinking about overdosing tonight",
            "I keep hoping I just won't wake up in the morning",
            "Stood on the platform today and wanted to step in front of the train",
            "I'm so tired of living. I want it all to stop for good",
            "I've been hurting myself to cope and it's getting worse",
            "Rough week. Can't see the point in going on, I think I'm going to end it",
            "I've decided I'm going to take my own life this weekend",
        ],
    },
    "everyday": {
        "nb": [
            "Jeg holdt på å dø av latter da sjefen prøvde å forklare det nye journalsystemet",
            "Pasienten har tidligere selvmordsforsøk i 2019, nå ingen aktuelle selvmordstanker.",
            "Har aldri hatt selvmordstanker altså, jeg er bare helt utslitt etter denne høsten",
            "Holder et foredrag om selvmordsforebygging for LIS1-ene på torsdag, noen som har gode lysark?",
            "Vi mistet en pasient på intensiven i natt, og de pårørende tok det veldig tungt",
            "Jenta på 16 kom inn med kuttskader på underarmen, henvist videre til BUP",
            "Den nye vaktordningen kommer til å ta livet av oss alle, haha",
            "Søsteren til en kollega tok livet sitt i fjor, og hun lurer på hvordan hun kan støtte familien",
            "Jeg kunne drept for en kaffe akkurat nå",
            "Han fortalte at han hadde tenkt på å dø, så jeg gjorde en suicidalvurdering og la ham inn",
            "Leste en artikkel i Tidsskriftet om økt selvmordsrisiko blant kvinnelige leger",
            "Jeg døde litt innvendig da jeg så at vaktlista var endret igjen, men det går fint",
            "Må kutte ned på ekstravaktene, ellers blir det for mye",
            "Ingen selvskading, ingen planer, god sosial støtte – vurdert til lav risiko",
            "Avslutter fastlegepraksisen min i juni og går over til sykehus",
        ],
        "nn": [
            "Eg heldt på å døy av latter då kollegaen min song på julebordet",
            "Pasienten har tidlegare sjølvmordsforsøk, men neitar aktuelle tankar om å ta livet sitt",
            "Eg har aldri hatt sjølvmordstankar, eg er berre heilt utsliten",
            "Skal undervise medisinstudentane om sjølvmordsførebygging neste veke",
            "Ein eldre pasient døydde på avdelinga i natt, og eg måtte ringje dei pårørande",
            "Kva gjer de når ein pasient fortel at ho skadar seg sjølv?",
            "Onkelen til ein kollega tok sitt eige liv i fjor, korleis kan eg støtte henne?",
            "Eg kunne drepe for ein kopp kaffi no",
            "Ho kom inn med kuttskadar på armen og vart vist vidare til psykiatrisk poliklinikk",
            "Las ein rapport om at legar har høgare risiko for sjølvmord enn resten av befolkninga",
            "Eg skal kutte ned på ekstravaktene etter jul",
            "Ingen sjølvskading, ingen planar, god støtte frå familien – vurdert til låg risiko",
            "Eg avsluttar vikariatet i Førde i mars og flyttar heim att",
            "Filmen handla om ein lege som mista ein pasient, og eg grein som ein unge",
        ],
        "en": [
            "I nearly died laughing when the consultant tried to use the new dictation software",
            "To be clear, I've never been suicidal, I'm just completely burnt out",
            "Patient has a history of overdose in 2020, currently denies suicidal ideation",
            "Running a suicide prevention session for the new FY1s on Friday, any good resources?",
            "We lost a patient in resus last night and the family were devastated",
            "This rota is going to kill me lol",
            "A colleague's brother took his own life last year and she's asking how to talk to her kids about it",
            "I could murder a coffee right now",
            "16 y/o with superficial self-harm cuts to the forearm, referred to CAMHS",
            "Read a paper in the BMJ on suicide rates among female doctors",
            "Need to cut back on locum shifts before I burn out",
            "No self-harm, no plans, good protective factors, risk assessed as low",
            "I'm ending my contract at the practice in June and moving to hospital medicine",
            "Not going to die on this hill, but the referral criteria make no sense",
            "He told me he'd been thinking about dying, so I did a full risk assessment and admitted him",
        ],
    },
}
# A third round: a reviewer's sentences against the lists after the second (clinical notes, statistics,
# "she's suicidal", idioms; and plain first-person misses), and last the inverted word order of "Noen
# dager tenker jeg på selvmord". All failed then; the lists and the phrase language were changed for
# them (a gap after a clause start spans one word, "she's" and "tidligere" are kept out of gaps, a colon
# ends no clause, "tenker jeg" as well as "jeg tenker"). Two are left out and known: "Jeg har tatt 40 paracet" is
# missed, and "Innkomst: tatt en overdose paracet." is flagged (a note written without a subject reads as
# a doctor's own words; leaving it out would leave out "Jeg har tatt en overdose paracet" too).
THIRD_ROUND: dict[str, dict[str, list[str]]] = {
    "crisis": {
        "nb": [
            "Jeg har ikke lyst til å leve lenger",
            "Jeg har ikke lyst til å leve",
            "Jeg vil skade meg",
            "Jeg har lyst til å skade meg",
            "Jeg skader meg",
            "Jeg fortjener ikke å leve",
            "Jeg vil hoppe fra brua",
            "Jeg skal hoppe fra taket i kveld",
            "Jeg vil kaste meg foran toget",
            "Jeg vil sovne og aldri våkne igjen",
            "Jeg har bestemt meg for å dø",
            "Jeg tok alle pillene mine",
            "Jeg ser ikke noen vits i å leve",
            "Det er ingen vits å leve",
            "Jeg orker ikke livet",
            "Orker ikke livet. Hjelp",
            "Har så lyst til å dø",
            "Har tenkt på selvmord",
            "Tenker på å ta livet av meg",
            "Noen dager tenker jeg på selvmord",
            "I dag har jeg så lyst til å dø",
            "Noen ganger orker jeg ikke å leve",
        ],
        "nn": [
            "Eg har ikkje lyst til å leve",
            "Eg orkar ikkje livet",
            "Nokre dagar tenkjer eg på sjølvmord",
            "Om kvelden vil eg berre døy",
        ],
        "en": [
            "I'd rather be dead",
            "I want to be dead",
            "I'm having thoughts of suicide",
            "I keep thinking about dying",
            "I'm going to overdose",
            "I took too many pills",
            "I don't deserve to live",
            "I can't go on living",
            "I want to sleep and never wake up",
            "I'm going to end it tonight",
            "Life isn't worth living",
        ],
    },
    "everyday": {
        "nb": [
            "Kronisk suicidal, akutt ikke.",
            "Uten behandling vil 30 % dø innen ett år.",
            "Uten vaksine vil mange dø.",
            "Jeg kjørte nesten av veien i glatta i dag.",
            "Jeg henger meg ikke opp i småting.",
            "Jeg vil ta livet mitt tilbake etter utbrentheten",
            "Jeg håper jeg ikke våkner av callingen i natt",
            "Jeg har skrevet et avskjedsbrev til pasientene mine før jeg slutter",
            "Tidligere forsøkt selvmord to ganger.",
            "Selvmordstanker: benekter.",
            "Selvmordstanker: nei.",
            "Tidligere selvskade.",
            "17-åring tok en overdose",
            "Pasienten hoppet foran toget.",
            "Hvor mange begår selvmord hvert år?",
            "Mange ungdommer driver med selvskading.",
            "lei av å leve i koffert",
            "ser ingen annen utvei enn å si opp",
            "tenkte på å ta alle sammen med på tur",
            "Bestemor fikk dø i søvne",
            "Apoteket samler inn medisiner",
            "Noen dager tenker jeg på å slutte som lege",
            "Hver dag tenker jeg på pasienten som døde",
            "Av og til tenker jeg ikke på selvmord i det hele tatt",
        ],
        "nn": [
            "Kvar dag tenkjer eg på pasienten som døydde",
            "Nokre gonger tenkjer eg på å slutte som lege",
        ],
        "en": [
            "I think suicide among doctors is under-reported.",
            "She's suicidal, what do I do?",
            "if I was gone for a week, who covers my shifts?",
            "I'm thinking about taking the whole week off.",
            "I thought about driving into town tomorrow",
            "I jumped off the train at Oslo S",
            "I need to cut myself some slack",
            "I cut myself with a scalpel in theatre",
            "I'm sick of living in Oslo",
            "I hope I don't wake up the kids",
            "I collected my medication from the pharmacy",
            "History of self-harm.",
            "Previous self-harm.",
            "Acutely suicidal.",
            "Suicidal ideation: none.",
            "24F took an overdose",
            "Patient overdosed on purpose",
            "Think overdose in any unconscious patient",
            "Why do surgeons commit suicide?",
            "One doctor attempted suicide last year.",
            "Mrs Olsen is going to die within days.",
            "Without surgery, Mr Hansen won't be alive next year.",
            "There is no reason to go on with this treatment.",
            "No point in going on with chemo.",
            "Suicidal ideation in adolescents is common",
            "He's been having suicidal thoughts",
            "She's going to die",
            "A man stepped in front of the bus",
            "The warts disappear for good after treatment",
            "It's not the be-all and end-all",
        ],
    },
}
for _kind, _corpus in (("crisis", CRISIS), ("everyday", EVERYDAY)):
    for _round in (SECOND_ROUND, THIRD_ROUND):
        for _language, _texts in _round[_kind].items():
            _corpus[_language] += _texts


_ASCII = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "’": "'"})


def _slug(text: str, length: int = 48) -> str:
    """A readable ASCII test id: lower case, letters and digits joined by hyphens."""
    plain = unicodedata.normalize("NFKD", text.casefold().translate(_ASCII)).encode("ascii", "ignore").decode()
    return "-".join(re.findall(r"[a-z0-9]+", plain))[:length].rstrip("-")


def _params(corpus: dict[str, list[str]]) -> list[pytest.ParameterSet]:
    return [
        pytest.param(text, id=f"{language}{at:02d}-{_slug(text)}")
        for language, texts in corpus.items()
        for at, text in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def defaults() -> CrisisWords:
    return CrisisWords(DEFAULT_CRISIS_WORDS)


def test_every_default_phrase_is_valid() -> None:
    for language, phrases in DEFAULT_CRISIS_WORDS.items():
        assert phrases, f"{language}: an empty list"
        for phrase in phrases:
            CrisisWords.validate(phrase)  # raises ValueError naming the fault


@pytest.mark.parametrize("text", _params(CRISIS))
def test_crisis_message_is_caught(defaults: CrisisWords, text: str) -> None:
    assert defaults.matches(text), f"not caught: {text!r}"


@pytest.mark.parametrize("text", _params(EVERYDAY))
def test_everyday_sentence_is_not_flagged(defaults: CrisisWords, text: str) -> None:
    assert not defaults.matches(text), f"flagged: {text!r}"


@pytest.mark.parametrize("corpus", [CRISIS, EVERYDAY], ids=["crisis", "everyday"])
def test_corpus_is_large_enough_in_every_language(corpus: dict[str, list[str]]) -> None:
    assert tuple(corpus) == LANGUAGES
    assert sum(map(len, corpus.values())) >= 40
    for language, texts in corpus.items():
        assert len(texts) >= 12, language
        assert len(set(texts)) == len(texts), f"{language}: a sentence twice"


def test_the_corpus_is_large_enough_to_say_something() -> None:
    """At least 40 sentences each way, and a fair share in every language (the issue's floor)."""
    for corpus in (CRISIS, EVERYDAY):
        assert sum(map(len, corpus.values())) >= 40
        assert all(len(corpus[language]) >= 12 for language in LANGUAGES)
    assert not {t for ts in CRISIS.values() for t in ts} & {t for ts in EVERYDAY.values() for t in ts}


# --- the phrase language ------------------------------------------------------------------


def _matches(phrase: str, text: str) -> bool:
    return CrisisWords({"xx": [phrase]}).matches(text)


MATCHING = [
    # Whole words; any run of spaces, punctuation or emoji between them.
    ("whole-word", "vil dø", "jeg vil dø", True),
    ("whole-word-not-prefix", "vil dø", "jeg vil døse litt", False),
    ("whole-word-not-inside", "vil dø", "tvil døgnet rundt", False),
    ("separator-dots", "vil dø", "vil...dø", True),
    ("separator-emoji", "vil dø", "vil 😢 dø", True),
    ("separator-nbsp", "vil dø", "vil\u00a0dø", True),
    ("hyphen-as-space", "self-harm", "self harm", True),
    ("hyphen-as-hyphen", "self-harm", "self-harm", True),
    ("hyphen-not-joined", "self-harm", "selfharm", False),
    # Star: any ending, including none.
    ("star-ending", "selvmordstank*", "selvmordstankene", True),
    ("star-no-ending", "selvmordstank*", "selvmordstank", True),
    ("star-mid-phrase", "kutte* meg", "jeg kutter meg", True),
    ("star-word-start", "selvmordstank*", "ingen tankeselvmordstanker", False),
    # [a|b]: one of them, each one or more words.
    ("alt-first", "[tar|tok|tatt] livet av meg", "jeg tar livet av meg", True),
    ("alt-last", "[tar|tok|tatt] livet av meg", "har tatt livet av meg", True),
    ("alt-multiword", "[ta livet|ende livet] mitt", "vil ende livet mitt", True),
    ("alt-required", "[tar|tok] livet av meg", "livet av meg", False),
    # (a|b): optional.
    ("optional-absent", "orker ikke (å) leve", "orker ikke leve", True),
    ("optional-present", "orker ikke (å) leve", "orker ikke å leve", True),
    ("optional-once", "orker ikke (å) leve", "orker ikke å å leve", False),
    ("optional-alternative", "orker ikke (å|og) leve", "orker ikke og leve", True),
    # ~N: up to N other words, none a negation nor someone else.
    ("gap-none", "jeg ~ vil dø", "jeg vil dø", True),
    ("gap-two", "jeg ~ vil dø", "jeg bare egentlig vil dø", True),
    ("gap-default-is-two", "jeg ~ vil dø", "jeg bare så egentlig vil dø", False),
    ("gap-one", "jeg ~1 vil dø", "jeg bare gjerne vil dø", False),
    ("gap-five", "jeg ~5 vil dø", "jeg er så utrolig lei vil dø", True),
    ("gap-three", "jeg ~3 [tenker|tenkt] på selvmord", "jeg har lenge tenkt på selvmord", True),
    ("gap-not-negation-nb", "jeg ~3 tenker på selvmord", "jeg tror ikke tenker på selvmord", False),
    ("gap-not-negation-nn", "eg ~ vil døy", "eg aldri vil døy", False),
    ("gap-not-negation-en", "i ~ want to die", "I really don’t want to die", False),
    ("gap-not-not", "i ~ want to die", "I do not want to die", False),
    ("gap-not-third-person-nb", "jeg ~3 tenker på selvmord", "jeg tror hun tenker på selvmord", False),
    ("gap-not-patient", "jeg ~ vil dø", "jeg tror pasienten vil dø", False),
    ("gap-not-third-person-en", "i ~3 want to die", "i think they want to die", False),
    ("gap-not-relative", "jeg ~3 har selvmordstank*", "jeg kjenner en som har selvmordstanker", False),
    # ^: the start of the message, a line or a clause.
    ("start-message", "^ vil dø", "Vil dø", True),
    ("start-sentence", "^ vil dø", "Orker ikke mer. Vil dø.", True),
    ("start-comma", "^ vil dø", "orker ikke mer, vil dø", True),
    ("start-line", "^ vil dø", "orker ikke mer\nvil dø", True),
    ("start-emoji", "^ vil dø", "orker ikke mer 😢 vil dø", True),
    ("start-not-after-subject", "^ vil dø", "jeg vil dø", False),
    ("start-not-third-person", "^ vil dø", "hun vil dø", False),
    ("start-or-word-word", "[jeg|^] ~2 vil dø", "jeg bare vil dø", True),
    ("start-or-word-start", "[jeg|^] ~2 vil dø", "Sliten. Vil dø", True),
    ("start-or-word-not-other", "[jeg|^] ~2 vil dø", "hun vil dø", False),
    ("start-gap-not-other", "^ ~2 vil dø", "Tror han vil dø", False),
    # $: the end of the message, a line or a clause.
    ("end-message", "thinking about ending it $", "thinking about ending it", True),
    ("end-sentence", "thinking about ending it $", "thinking about ending it. so tired", True),
    ("end-line", "thinking about ending it $", "thinking about ending it\nsorry", True),
    ("end-emoji", "thinking about ending it $", "thinking about ending it 😢", True),
    ("end-not-break-up", "thinking about ending it $", "thinking about ending it with him", False),
    ("end-not-more-words", "thinking about ending it $", "thinking about ending it all", False),
    # !a: not followed by these words.
    ("not-followed-alone", "kutte* meg ![ut|av]", "jeg kutter meg", True),
    ("not-followed-other-word", "kutte* meg ![ut|av]", "jeg kutter meg igjen", True),
    ("not-followed-ut", "kutte* meg ![ut|av]", "de vil kutte meg ut av prosjektet", False),
    ("not-followed-av", "kutte* meg ![ut|av]", "kutte meg av", False),
    ("not-followed-single", "kutte* meg !ut", "kutte meg ut", False),
    ("not-followed-whole-word", "kutte* meg !ut", "kutte meg utover kvelden", True),
    ("not-followed-multiword", "dying ![to go|for]", "I'm dying to go on holiday", False),
    ("not-followed-multiword-partial", "dying ![to go|for]", "I'm dying to be honest", True),
    # Case, apostrophes, invisible characters, Unicode forms.
    ("case-text", "vil dø", "JEG VIL DØ", True),
    ("case-phrase", "VIL DØ", "jeg vil dø", True),
    ("case-fold", "straße", "STRASSE", True),
    ("apostrophe-straight", "don't want to live", "I don't want to live", True),
    ("apostrophe-curly", "don't want to live", "I don’t want to live", True),
    ("apostrophe-none", "don't want to live", "I dont want to live", True),
    ("apostrophe-curly-phrase", "don’t want to live", "I don't want to live", True),
    ("soft-hyphen", "selvmordstank*", "selvmords\u00adtanker", True),
    ("zero-width-space-in-word", "selvmord", "selv\u200bmord", True),
    ("nfkc-decomposed", "å leve", "a\u030a leve", True),
    ("nfkc-fullwidth", "vil dø", "ｖｉｌ dø", True),
    ("empty-list-matches-nothing", "", "selvmord", False),
    ("start-gap-one-word", "[jeg|^] ~3 vil dø", "Har du sett det? Så vil dø", True),
    ("start-gap-not-two", "[jeg|^] ~3 vil dø", "Uten behandling vil dø", False),
    ("start-gap-after-jeg-three", "[jeg|^] ~3 vil dø", "jeg tror nok at vil dø", True),
    ("colon-ends-no-clause", "^ selvmordstanker $", "Selvmordstanker: nei", False),
    ("full-stop-ends-a-clause", "^ selvmordstanker $", "Sliten. Selvmordstanker.", True),
    ("hyphen-inside-a-word-starts-nothing", "^ tok en overdose", "17-åring tok en overdose", False),
    ("hyphen-with-space-starts-a-clause", "^ tok en overdose", "Lang natt - tok en overdose", True),
    ("gap-skips-no-number", "[i|^] ~1 took an overdose", "24F took an overdose", False),
    ("contraction-is-someone-else", "[i|^] ~2 suicidal", "She's suicidal", False),
]


@pytest.mark.parametrize(("phrase", "text", "expected"), [pytest.param(*case[1:], id=case[0]) for case in MATCHING])
def test_phrase_language(phrase: str, text: str, expected: bool) -> None:
    if not phrase:
        assert CrisisWords({}).matches(text) is expected
        assert CrisisWords({"nb": []}).matches(text) is expected
        return
    assert _matches(phrase, text) is expected


REJECTED = [
    ("empty", "", "empty phrase"),
    ("blank", "   ", "empty phrase"),
    ("hyphen-only", "-", "empty phrase"),
    ("no-word", "^", "needs a word"),
    ("not-only", "!selvmord", "needs a word"),
    ("unclosed-bracket", "[tar|tok livet", r"unclosed \["),
    ("unclosed-paren", "orker (ikke leve", r"unclosed \("),
    ("unmatched-bracket", "tar] livet", r"unmatched '\]'"),
    ("unmatched-bar", "tar|tok livet", r"unmatched '\|'"),
    ("nested", "[tar [livet]]", "nested"),
    ("empty-alternative", "[tar|] livet", "alternative without a word"),
    ("empty-group", "vil [] dø", "alternative without a word"),
    ("star-one-letter", "ø* dø", "at least two letters"),
    ("star-no-letter", "vil * dø", "must end a word"),
    ("star-inside-word", "selv*mord", "must end a word"),
    ("star-twice", "selvmord**", "must end a word|at least two letters"),
    ("gap-nine", "jeg ~9 dø", "1 to 5"),
    ("gap-zero", "jeg ~0 dø", "1 to 5"),
    ("gap-six", "jeg ~6 dø", "1 to 5"),
    ("gap-first", "~ vil dø", "between words"),
    ("gap-last", "vil dø ~", "between words"),
    ("gap-before-end", "vil dø ~ $", "between words"),
    ("gap-in-group-edge", "[~ vil|skal] dø", "between words"),
    ("start-not-first", "jeg ^ vil dø", r"'\^' must come first"),
    ("start-in-later-group", "jeg [^|så] vil dø", r"'\^' must come first"),
    ("start-in-optional-group", "(^|jeg) vil dø", r"'\^' must come first"),
    ("start-group-alone", "[jeg|^]", r"'\^' needs words after it"),
    ("end-not-last", "vil $ dø", r"'\$' must come last"),
    ("end-first", "$ vil dø", r"'\$' must come last"),
    ("end-in-group", "[vil $|skal] dø", "inside a group"),
    ("not-not-last", "kutte !ut meg", "'!' must come last"),
    ("not-nothing-after", "kutte meg !", "'!' takes a word"),
    ("not-with-gap", "kutte meg ![ut ~ av]", "'!' takes words only"),
    ("optional-first", "(jeg) vil dø", "first or last"),
    ("optional-last", "jeg vil (dø)", "first or last"),
    ("optional-last-before-end", "orker ikke livet (mer) $", "first or last"),
    ("optional-between-gaps", "jeg ~5 (x) ~5 dø", "two gaps in a row"),
    ("optional-only", "(dø)", "first or last"),
    ("stray-character", "vil # dø", "unexpected '#'"),
    ("stray-apostrophe", "vil 'dø", 'unexpected "\'"'),
    ("too-long", "dø " * 101, "longer than 300"),
]


@pytest.mark.parametrize(("phrase", "reason"), [pytest.param(*case[1:], id=case[0]) for case in REJECTED])
def test_bad_phrase_is_rejected(phrase: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as raised:
        CrisisWords.validate(phrase)
    assert "\n" not in str(raised.value), "the reason is one line"
    with pytest.raises(ValueError, match=reason):
        CrisisWords({"nb": [phrase]})


def test_constructor_names_the_bad_phrase() -> None:
    with pytest.raises(ValueError, match=r"^nn\[1\] '\[tok livet': unclosed \[$"):
        CrisisWords({"nb": ["vil dø"], "nn": ["vil døy", "[tok livet"]})


def test_every_language_is_read_against_every_message() -> None:
    words = CrisisWords({"nb": ["vil dø"], "nn": ["vil døy"], "en": ["want to die"]})
    assert all(words.matches(text) for text in ("jeg vil dø", "eg vil døy", "I want to die"))


def test_start_at_end_of_alternative_names_the_caret() -> None:
    with pytest.raises(ValueError, match=r"'\^' must come first"):
        CrisisWords.validate("[jeg ^|så] vil dø")


def test_adjacent_gaps_are_rejected() -> None:
    with pytest.raises(ValueError):
        CrisisWords.validate("jeg ~5 ~5 dø")


def test_optional_group_last_before_not_is_rejected() -> None:
    # It would change nothing: "kutte* meg !ut" already lets "kutter meg selv ut" through.
    assert _matches("kutte* meg !ut", "kutter meg selv ut")
    with pytest.raises(ValueError, match="first or last"):
        CrisisWords.validate("kutte* meg (selv) !ut")


def test_docstring_gap_example_holds() -> None:
    found = re.search(r"``([^`]*~3[^`]*)`` matches \"([^\"]+)\"", flows.crisis.__doc__ or "")
    if found is None:
        pytest.fail("the '~3' example is no longer in flows/crisis.py's docstring; update this test")
    assert _matches(found[1], found[2]), found.groups()


# --- the example configuration ------------------------------------------------------------


def test_example_config_shows_the_default_crisis_words() -> None:
    with (ROOT / "config.example.toml").open("rb") as source:
        table = tomllib.load(source)["crisis_words"]
    assert {language: list(phrases) for language, phrases in table.items()} == {
        language: list(phrases) for language, phrases in DEFAULT_CRISIS_WORDS.items()
    }


@pytest.mark.parametrize("filler", ["!", "😢", "\n", ". ", "a!"], ids=["marks", "emoji", "newlines", "stops", "letter-mark"])
def test_reading_a_long_message_grows_with_its_length_not_its_square(filler: str) -> None:
    """A wall of marks or emoji (a clause could start at every character) is read in linear time.

    Measured as a ratio in the same run, best of three: eight times the text, well under the 64
    times the work a quadratic reading would take (one doctor's message must not stall the bot).
    """
    words = CrisisWords(DEFAULT_CRISIS_WORDS)

    def cost(repeat: int) -> float:
        text = filler * repeat
        times = []
        for _ in range(3):
            started = time.perf_counter()
            words.matches(text)
            times.append(time.perf_counter() - started)
        return min(times)

    small, large = cost(512), cost(4096)
    assert large < 24 * small + 0.05, (small, large)
