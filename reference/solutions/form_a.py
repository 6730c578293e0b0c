"""Reference solution for form A: `create_and_train_model` and `test_model`.

Written the way a careful student would write `nn_keras_solution.py`, so the
grader can run it exactly like a submission: one file, numpy and TensorFlow
only. The instructor's driver loads and normalizes the data.
"""

import numpy as np
import tensorflow as tf


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    """Build a dense network with `layers - 2` hidden layers and train it.

    `layers` counts the input and the output layer; `units_per_layer` and
    `hidden_activations` give one entry per hidden layer.
    """
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
    """Print one line per test object and the overall accuracy; return it.

    An object whose true class ties with others for the largest output scores
    1 / (number of tied classes); ties use exact equality.
    """
    outputs = model.predict(test_inputs, verbose=0)
    true_classes = np.asarray(test_labels).flatten()

    total = 0.0
    for object_id in range(len(true_classes)):
        output = np.asarray(outputs[object_id]).flatten()
        true_class = int(true_classes[object_id])
        predicted_class = int(np.argmax(output))

        (tied,) = np.nonzero(output == np.max(output))
        accuracy = 1.0 / len(tied) if true_class in tied else 0.0
        total += accuracy
        print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f" % (
            object_id, ints_to_labels[predicted_class],
            ints_to_labels[true_class], accuracy))

    classification_accuracy = total / len(true_classes)
    print("classification accuracy=%6.4f" % classification_accuracy)
    return classification_accuracy
