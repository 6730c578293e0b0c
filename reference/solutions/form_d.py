"""Reference solution for form D: load, normalize, train and test, step by step.

Written the way a careful student would write `nn_keras_solution.py`, so the
grader can run it exactly like a submission: one file, numpy and TensorFlow
only.
"""

import numpy as np
import tensorflow as tf


def read_data_file(path):
    """Read one course file into a list of attribute rows and a list of labels.

    Fields are separated by runs of whitespace; the last field is the label,
    kept as the original token. Blank lines (at the end of a file) are skipped.
    """
    rows = []
    tokens = []
    with open(path) as data_file:
        for line in data_file:
            fields = line.split()
            if not fields:
                continue
            rows.append([float(value) for value in fields[:-1]])
            tokens.append(fields[-1])
    return rows, tokens


def load_dataset(directory, dataset):
    """Load `<dataset>_training.txt` and `<dataset>_test.txt` from `directory`.

    Labels become integers in order of first appearance, over the training
    file first and then the test file, with one shared mapping.
    """
    training_rows, training_tokens = read_data_file(
        f"{directory}/{dataset}_training.txt"
    )
    test_rows, test_tokens = read_data_file(f"{directory}/{dataset}_test.txt")

    labels_to_ints = {}
    for token in training_tokens + test_tokens:
        if token not in labels_to_ints:
            labels_to_ints[token] = len(labels_to_ints)
    ints_to_labels = {number: token for token, number in labels_to_ints.items()}

    def to_arrays(rows, tokens):
        inputs = np.array(rows, dtype=np.float64)
        labels = np.array([labels_to_ints[t] for t in tokens], dtype=np.int64)
        return inputs, labels.reshape(-1, 1)

    training_set = to_arrays(training_rows, training_tokens)
    test_set = to_arrays(test_rows, test_tokens)
    return training_set, test_set, ints_to_labels


def normalize(training_inputs, test_inputs):
    """Divide both sets by the largest absolute value in the training inputs."""
    scale = np.max(np.abs(training_inputs))
    return training_inputs / scale, test_inputs / scale


def object_accuracy(outputs, true_class):
    """Tie-aware accuracy of one object: 1/|ties| if the true class is tied first."""
    outputs = np.asarray(outputs).flatten()
    (tied,) = np.nonzero(outputs == np.max(outputs))
    if int(np.ravel(true_class)[0]) in tied:
        return 1.0 / len(tied)
    return 0.0


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    """Build a dense network with `layers - 2` hidden layers and train it."""
    # A plain int: Keras refuses numpy integers as a unit count.
    number_of_classes = int(np.max(training_labels)) + 1

    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=(training_inputs.shape[1],)))
    for i in range(layers - 2):
        model.add(tf.keras.layers.Dense(units_per_layer[i],
                                        activation=hidden_activations[i]))
    model.add(tf.keras.layers.Dense(number_of_classes, activation="softmax"))

    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy())
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)
    return model


def test_model(model, test_inputs, test_labels, ints_to_labels):
    """Print one line per test object and the overall accuracy; return it."""
    outputs = model.predict(test_inputs, verbose=0)
    true_classes = np.asarray(test_labels).flatten()

    total = 0.0
    for object_id in range(len(true_classes)):
        true_class = int(true_classes[object_id])
        predicted_class = int(np.argmax(outputs[object_id]))
        accuracy = object_accuracy(outputs[object_id], true_class)
        total += accuracy
        print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f" % (
            object_id, ints_to_labels[predicted_class],
            ints_to_labels[true_class], accuracy))

    classification_accuracy = total / len(true_classes)
    print("classification accuracy=%6.4f" % classification_accuracy)
    return classification_accuracy
