"""Fixtures for the evaluation tests: a tiny SQuAD file (three questions over three paragraphs)."""

import json

import pytest

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "Paris",
            "paragraphs": [
                {
                    "context": "The Eiffel Tower in Paris was designed by the engineer Gustave Eiffel "
                    "and completed in 1889.",
                    "qas": [
                        {
                            "id": "a1",
                            "question": "Who designed the Eiffel Tower?",
                            "answers": [{"text": "Gustave Eiffel", "answer_start": 47}],
                        }
                    ],
                },
                {
                    "context": "The Louvre in Paris is the most visited art museum in the world.",
                    "qas": [
                        {
                            "id": "a2",
                            "question": "Which is the most visited art museum?",
                            "answers": [{"text": "The Louvre", "answer_start": 0}],
                        }
                    ],
                },
            ],
        },
        {
            "title": "Rivers",
            "paragraphs": [
                {
                    "context": "The Amazon carries more water than any other river on Earth.",
                    "qas": [
                        {
                            "id": "a3",
                            "question": "Which river carries the most water?",
                            "answers": [{"text": "Amazon", "answer_start": 4}],
                        }
                    ],
                }
            ],
        },
    ],
}


@pytest.fixture
def squad_file(tmp_path):
    path = tmp_path / "squad-tiny.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    return path
