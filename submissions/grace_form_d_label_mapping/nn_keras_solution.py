# Grace Hoffmann  --  Keras assignment (load / normalize / train / test)

import numpy as np
import tensorflow as tf


def read_uci_file(path):
    """Returns (inputs, labels, label_names) for one data file.

    labels are numbered 0, 1, 2, ... in the order the class names first
    show up in the file.
    """
    rows = []
    names = []
    with open(path) as f:
        for line in f:
            tokens = line.split()
            if tokens:
                rows.append([float(t) for t in tokens[:-1]])
                names.append(tokens[-1])
    name_to_number = {}
    for name in names:
        if name not in name_to_number:
            name_to_number[name] = len(name_to_number)
    labels = np.array([[name_to_number[n]] for n in names])
    label_names = {number: name for name, number in name_to_number.items()}
    return np.array(rows, dtype=float), labels, label_names


def load_dataset(directory, dataset):
    training_inputs, training_labels, ints_to_labels = read_uci_file(
        f"{directory}/{dataset}_training.txt")
    test_inputs, test_labels, _ = read_uci_file(f"{directory}/{dataset}_test.txt")
    return ((training_inputs, training_labels), (test_inputs, test_labels),
            ints_to_labels)


def normalize(training_inputs, test_inputs):
    scale = np.max(np.abs(training_inputs))
    return training_inputs / scale, test_inputs / scale


def object_accuracy(outputs, true_class):
    outputs = np.asarray(outputs).reshape(-1)
    top = outputs.max()
    tied = [c for c, value in enumerate(outputs) if value == top]
    return 1.0 / len(tied) if true_class in tied else 0.0


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    n_out = int(np.max(training_labels)) + 1
    net = tf.keras.Sequential()
    net.add(tf.keras.Input(shape=(training_inputs.shape[1],)))
    for k in range(layers - 2):
        net.add(tf.keras.layers.Dense(units_per_layer[k],
                                      activation=hidden_activations[k]))
    net.add(tf.keras.layers.Dense(n_out, activation="softmax"))
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    net.fit(training_inputs, training_labels, epochs=epochs, verbose=0)
    return net


def test_model(model, test_inputs, test_labels, ints_to_labels):
    outputs = model.predict(test_inputs, verbose=0)
    truth = np.asarray(test_labels).reshape(-1)
    accuracies = np.zeros(len(truth))
    for i, row in enumerate(outputs):
        accuracies[i] = object_accuracy(row, int(truth[i]))
        print(f"ID={i:5d}, predicted={ints_to_labels[int(np.argmax(row))]:>10s}, "
              f"true={ints_to_labels.get(int(truth[i]), '?'):>10s}, "
              f"accuracy={accuracies[i]:4.2f}")
    overall = float(accuracies.mean())
    print(f"classification accuracy={overall:6.4f}")
    return overall
