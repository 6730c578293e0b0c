# Frank Dubois - nn_keras_solution.py (step by step version of the assignment)
import numpy as np
import tensorflow as tf


def load_file(filename):
    attributes = []
    class_names = []
    with open(filename) as handle:
        for line in handle.read().splitlines():
            if line.strip() == "":
                continue
            fields = line.split()
            attributes.append(list(map(float, fields[:-1])))
            class_names.append(fields[-1])
    return np.array(attributes), class_names


def load_dataset(directory, dataset):
    train_inputs, train_names = load_file(directory + "/" + dataset + "_training.txt")
    test_inputs, test_names = load_file(directory + "/" + dataset + "_test.txt")

    name_to_int = {}
    for name in train_names + test_names:
        if name not in name_to_int:
            name_to_int[name] = len(name_to_int)

    train_labels = np.array([name_to_int[n] for n in train_names]).reshape((-1, 1))
    test_labels = np.array([name_to_int[n] for n in test_names]).reshape((-1, 1))
    ints_to_labels = dict((i, n) for (n, i) in name_to_int.items())
    return (train_inputs, train_labels), (test_inputs, test_labels), ints_to_labels


def normalize(training_inputs, test_inputs):
    biggest = np.max(np.absolute(training_inputs))
    return training_inputs / biggest, test_inputs / biggest


def object_accuracy(outputs, true_class):
    outputs = np.ravel(outputs)
    winners = np.flatnonzero(outputs == outputs.max())
    return 1.0 / winners.size if true_class in winners else 0.0


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    number_of_classes = int(np.max(training_labels)) + 1

    model = tf.keras.Sequential([tf.keras.Input(shape=(training_inputs.shape[1],))])
    for i in range(layers - 2):
        model.add(tf.keras.layers.Dense(units_per_layer[i],
                                        activation=hidden_activations[i]))
    # a couple of spare output units in case the test set has a class that
    # the training set does not
    model.add(tf.keras.layers.Dense(number_of_classes + 2, activation="softmax"))

    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy())
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)
    return model


def test_model(model, test_inputs, test_labels, ints_to_labels):
    outputs = model.predict(test_inputs, verbose=0)
    labels = np.ravel(test_labels)
    total = 0.0
    for i in range(len(labels)):
        acc = object_accuracy(outputs[i], int(labels[i]))
        total += acc
        guess = int(np.argmax(outputs[i]))
        print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f"
              % (i, ints_to_labels.get(guess, str(guess)),
                 ints_to_labels[int(labels[i])], acc))
    accuracy = total / len(labels)
    print("classification accuracy=%6.4f" % accuracy)
    return accuracy
