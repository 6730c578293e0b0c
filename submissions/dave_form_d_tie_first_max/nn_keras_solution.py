# Dave Okafor -- Keras assignment, step-by-step version

import numpy as np
import tensorflow as tf


def _read(path):
    with open(path) as f:
        lines = [l.split() for l in f.read().strip().split("\n")]
    lines = [l for l in lines if l]
    x = np.array([[float(v) for v in l[:-1]] for l in lines], dtype=np.float64)
    return x, [l[-1] for l in lines]


def load_dataset(directory, dataset):
    x_train, train_names = _read("%s/%s_training.txt" % (directory, dataset))
    x_test, test_names = _read("%s/%s_test.txt" % (directory, dataset))

    lookup = {}
    for name in train_names:
        lookup.setdefault(name, len(lookup))
    for name in test_names:
        lookup.setdefault(name, len(lookup))

    y_train = np.array([lookup[n] for n in train_names]).reshape(-1, 1)
    y_test = np.array([lookup[n] for n in test_names]).reshape(-1, 1)
    ints_to_labels = {i: n for n, i in lookup.items()}
    return (x_train, y_train), (x_test, y_test), ints_to_labels


def normalize(training_inputs, test_inputs):
    m = np.abs(training_inputs).max()
    return training_inputs / m, test_inputs / m


def object_accuracy(outputs, true_class):
    # the network's answer is the output unit with the highest value
    predicted_class = np.argmax(outputs)
    if predicted_class == true_class:
        return 1.0
    return 0.0


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    classes = int(training_labels.max()) + 1
    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=(training_inputs.shape[1],)))
    for units, act in zip(units_per_layer[:layers - 2],
                          hidden_activations[:layers - 2]):
        model.add(tf.keras.layers.Dense(units, activation=act))
    model.add(tf.keras.layers.Dense(classes, activation='softmax'))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)
    return model


def test_model(model, test_inputs, test_labels, ints_to_labels):
    y = np.asarray(test_labels).ravel()
    scores = model.predict(test_inputs, verbose=0)
    accuracies = []
    for idx, row in enumerate(scores):
        acc = object_accuracy(row, int(y[idx]))
        accuracies.append(acc)
        print('ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f' % (
            idx, ints_to_labels[int(np.argmax(row))], ints_to_labels[int(y[idx])],
            acc))
    overall = sum(accuracies) / len(accuracies)
    print('classification accuracy=%6.4f' % overall)
    return overall
